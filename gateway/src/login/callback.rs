//! The end of a login at `/login/{upstream}/callback`: the upstream's answer is checked, the
//! policy decides, the person is found or created and linked to their one-stop-shop account,
//! the session opens and a code goes back to the portal — or the refusal is shown. Every
//! outcome is audited and counted before the answer.

use chrono::{DateTime, Utc};
use serde_json::json;
use vneid_core::{AccountType, UpstreamIdentity};
use vneid_policy::{Admitted, Admittee, Refusal, Requirement};
use vneid_store::{AuditEvent, LoginUpsert, StoreError};

use super::upstream::NS_LOGIN_BINDING;
use super::{
    codes, error_redirect, from_json, session, AuthRequest, Authentication, PendingLogin, NS_LOGIN,
};
use crate::errors::ServiceError;
use crate::state::AppState;

/// How a callback ended.
pub enum CallbackOutcome {
    /// Admitted: go back to the portal with a code; set this SSO cookie.
    Admitted { redirect: String, cookie: String },
    /// Refused by policy: show why, link back with `error=access_denied`.
    Refused {
        refusal: Refusal,
        back: String,
        portal: String,
    },
    /// The person cancelled at the upstream or it reported an error: back to the portal.
    UpstreamDenied { redirect: String },
    /// The upstream failed (network, bad token): show a page, link back.
    UpstreamFailed { back: String, portal: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No pending login for this state: forged, replayed or expired.
    #[error("unknown or expired state")]
    UnknownState,
    /// The login was started in another browser (its binding cookie is missing or differs):
    /// someone is trying to finish their own login in this browser.
    #[error("the login was started in another browser")]
    OtherBrowser,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for CallbackError {
    fn from(e: StoreError) -> Self {
        Self::Service(ServiceError::Store(e))
    }
}

/// What came back to `/login/{upstream}/callback`.
pub struct Callback<'a> {
    pub upstream: &'a str,
    pub upstream_state: &'a str,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The value of the login's binding cookie in this browser, if any.
    pub binding: Option<&'a str>,
    pub request_id: &'a str,
}

/// A login that ended in an error before the policy decided: counted and audited with `reason`.
async fn record_error(
    state: &AppState,
    upstream_id: &str,
    client_id: &str,
    request_id: &str,
    reason: &str,
) -> Result<(), StoreError> {
    state
        .metrics
        .login(upstream_id, None, None, "error", reason);
    let event = AuditEvent::new("login", "error")
        .at(state.clock.now())
        .request_id(request_id)
        .client_id(client_id)
        .upstream(upstream_id)
        .reason(reason);
    state.db.append_audit(&event).await?;
    Ok(())
}

/// Finishes a login at the callback. The pending login is taken (single use) before anything
/// else, so a state is spent even by a callback from the wrong browser.
pub async fn finish(
    state: &AppState,
    callback: &Callback<'_>,
) -> Result<CallbackOutcome, CallbackError> {
    let upstream_id = callback.upstream;
    let request_id = callback.request_id;
    let pending: PendingLogin = match state
        .ephemeral
        .take(NS_LOGIN, callback.upstream_state)
        .await?
    {
        Some(s) => from_json(&s)?,
        None => return Err(CallbackError::UnknownState),
    };
    if pending.upstream != upstream_id {
        return Err(CallbackError::UnknownState);
    }
    let bound = callback.binding.is_some_and(|b| {
        crate::secure::constant_time_eq(
            state.master.lookup_hash(NS_LOGIN_BINDING, b).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound {
        let client_id = &pending.request.client_id;
        record_error(state, upstream_id, client_id, request_id, "other_browser").await?;
        tracing::warn!(
            upstream = upstream_id,
            client_id = %pending.request.client_id,
            "a login came back to a browser that did not start it; refused"
        );
        return Err(CallbackError::OtherBrowser);
    }
    let (code, upstream_error) = (callback.code, callback.error);
    let req = &pending.request;
    let client = state.clients.get(&req.client_id);
    let portal = client
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| req.client_id.clone());
    // The client's current account types (none if it was removed meanwhile: fail closed).
    let account_types = client
        .as_ref()
        .map(|c| c.account_types.clone())
        .unwrap_or_default();
    let upstream = state
        .upstream(upstream_id)
        .ok_or(CallbackError::UnknownState)?;

    let audit = |outcome: &str| {
        AuditEvent::new("login", outcome)
            .at(state.clock.now())
            .request_id(request_id)
            .client_id(&req.client_id)
            .upstream(upstream_id)
    };

    let code = match (code, upstream_error) {
        (Some(c), None) => c,
        (_, err) => {
            let error = if err == Some("access_denied") {
                "access_denied"
            } else {
                "server_error"
            };
            let reason = format!(
                "upstream_{}",
                if error == "access_denied" {
                    "denied"
                } else {
                    "error"
                }
            );
            record_error(state, upstream_id, &req.client_id, request_id, &reason).await?;
            return Ok(CallbackOutcome::UpstreamDenied {
                redirect: error_redirect(
                    state,
                    req,
                    error,
                    "the login was not completed at the upstream",
                ),
            });
        }
    };

    let started = std::time::Instant::now();
    let identity = match upstream.complete(code, &pending.upstream_pending).await {
        Ok(i) => {
            state
                .metrics
                .upstream_duration
                .with_label_values(&[upstream_id, "ok"])
                .observe(started.elapsed().as_secs_f64());
            i
        }
        Err(e) => {
            state
                .metrics
                .upstream_duration
                .with_label_values(&[upstream_id, e.code()])
                .observe(started.elapsed().as_secs_f64());
            tracing::warn!(upstream = upstream_id, error = %e, "upstream login failed");
            let reason = format!("upstream_{}", e.code());
            record_error(state, upstream_id, &req.client_id, request_id, &reason).await?;
            return Ok(CallbackOutcome::UpstreamFailed {
                back: error_redirect(
                    state,
                    req,
                    "temporarily_unavailable",
                    "the upstream login failed",
                ),
                portal,
            });
        }
    };

    let now = state.clock.now();
    let requirement = Requirement {
        level: req.required_level,
        account_types: &account_types,
    };
    match vneid_policy::decide(
        &state.settings.policy,
        &identity,
        requirement,
        vneid_core::vietnam::date(now),
    ) {
        Err(refusal) => {
            refused(state, &identity, &refusal, audit("refused")).await?;
            let description = format!("{}: {}", refusal.code(), refusal.description());
            Ok(CallbackOutcome::Refused {
                back: error_redirect(state, req, "access_denied", &description),
                refusal,
                portal,
            })
        }
        Ok(admitted) => {
            let (redirect, cookie) =
                admit(state, req, &identity, &admitted, audit("success"), now).await?;
            Ok(CallbackOutcome::Admitted { redirect, cookie })
        }
    }
}

async fn refused(
    state: &AppState,
    identity: &UpstreamIdentity,
    refusal: &Refusal,
    event: AuditEvent,
) -> Result<(), StoreError> {
    let level = identity.level.valid().map(|l| l.number());
    state.metrics.login(
        &identity.upstream,
        identity.login_idp.as_deref(),
        level,
        "refused",
        refusal.code(),
    );
    let mut event = event
        .reason(refusal.code())
        .subject_masked(vneid_core::mask(
            identity.personal_id.as_deref().unwrap_or(""),
        ));
    if let Some(idp) = &identity.login_idp {
        event = event.login_idp(idp);
    }
    if let Some(l) = level {
        event = event.level(l);
    }
    // Which account type was refused, or the value no `[upstreams.account_types]` lists (a code
    // such as "3", never personal data).
    let account_type = match refusal {
        Refusal::AccountTypeUnknown { value } => Some(value.as_str()),
        Refusal::AccountTypeNotAllowed { have } => Some(have.as_str()),
        _ => None,
    };
    if let Some(t) = account_type {
        event = event.detail(json!({ "account_type": t }));
    }
    tracing::info!(
        upstream = %identity.upstream,
        login_idp = identity.login_idp.as_deref().unwrap_or(""),
        account_type = account_type.unwrap_or(""),
        reason = refusal.code(),
        personal_id = %vneid_core::mask(identity.personal_id.as_deref().unwrap_or("")),
        "login refused"
    );
    state.db.append_audit(&event).await.map(drop)
}

async fn admit(
    state: &AppState,
    req: &AuthRequest,
    identity: &UpstreamIdentity,
    admitted: &Admitted,
    event: AuditEvent,
    now: DateTime<Utc>,
) -> Result<(String, String), ServiceError> {
    let request_id = event.request_id.clone();
    let mut event = event.level(admitted.level.number());
    if let Some(idp) = &identity.login_idp {
        event = event.login_idp(idp);
    }
    let sealing = |e: vneid_tokens::CryptoError| ServiceError::Internal(e.to_string());
    let login = LoginUpsert {
        upstream: identity.upstream.clone(),
        subject: identity.subject.clone(),
        personal_id_hash: None,
        personal_id_sealed: None,
        name: identity.name.clone(),
        birthdate: None,
        login_idp: identity.login_idp.clone(),
        level: admitted.level.number(),
        at: now,
        account_type: admitted.account_type(),
        organisation_key: None,
        organisation_sealed: None,
    };
    // A citizen is keyed by their personal ID number (hashed, sealed); an organisation never
    // is: by its upstream identity, or its own key (see `Database::upsert_person_on_login`).
    let (login, personal_id_hash) = match &admitted.who {
        Admittee::Citizen {
            personal_id,
            birthdate,
        } => {
            let hash = state.master.personal_id_hash(personal_id.expose());
            event = event.subject_masked(personal_id.masked());
            let login = LoginUpsert {
                personal_id_hash: Some(hash.clone()),
                personal_id_sealed: Some(
                    state
                        .master
                        .seal_personal_id(personal_id.expose())
                        .map_err(sealing)?,
                ),
                birthdate: *birthdate,
                ..login
            };
            (login, Some(hash))
        }
        Admittee::Organisation => {
            let facts = identity.organisation.clone().unwrap_or_default();
            event = event.detail(json!({ "account_type": AccountType::Organisation.as_str() }));
            let login = LoginUpsert {
                organisation_key: facts
                    .id
                    .as_deref()
                    .map(|id| state.master.organisation_key(id)),
                organisation_sealed: Some(state.master.seal_organisation(&facts).map_err(sealing)?),
                ..login
            };
            (login, None)
        }
    };
    // The person and the login's audit event, in one transaction (the store fills in the
    // event's person): the answer comes once both are durable.
    let (person, _) = state.db.record_login(login, event).await?;
    state.metrics.login(
        &identity.upstream,
        identity.login_idp.as_deref(),
        Some(admitted.level.number()),
        "success",
        "",
    );
    match admitted.personal_id() {
        Some(pid) => tracing::info!(
            upstream = %identity.upstream,
            person_id = %person.id,
            personal_id = %pid,
            assurance_level = admitted.level.number(),
            "login admitted"
        ),
        None => tracing::info!(
            upstream = %identity.upstream,
            person_id = %person.id,
            account_type = admitted.account_type().as_str(),
            assurance_level = admitted.level.number(),
            "login admitted"
        ),
    }
    // Linking to a one-stop-shop account goes by personal ID number: citizens only.
    if let Some(personal_id_hash) = &personal_id_hash {
        let facts = vneid_directory::link::LoginFacts {
            person_id: &person.id,
            personal_id_hash,
            level: admitted.level.number(),
            login_idp: identity.login_idp.as_deref(),
            vneid_login_idp: &state.settings.policy.vneid_login_idp,
            request_id: request_id.as_deref(),
            at: now,
        };
        link_account(state, &facts).await;
    }

    let auth = Authentication {
        sid: crate::secure::fresh_token(16)?,
        person_id: person.id.clone(),
        auth_time: now.timestamp(),
        level: admitted.level,
        idp: identity.upstream.clone(),
        login_idp: identity.login_idp.clone(),
    };
    let (cookie, _) = session::open(state, &auth, &req.client_id).await?;
    let redirect = codes::issue(state, req, &auth).await?;
    Ok((redirect, cookie))
}

/// Links the person to their one-stop-shop account (see [`vneid_directory::link`]). The login
/// stands whatever happens here: a failure is logged, and the next login tries again.
async fn link_account(state: &AppState, facts: &vneid_directory::link::LoginFacts<'_>) {
    let person_id = facts.person_id;
    let outcome = match vneid_directory::link::link_on_login(&state.db, facts).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, person_id, "linking to the directory failed");
            state
                .metrics
                .account_links
                .with_label_values(&["error"])
                .inc();
            return;
        }
    };
    use vneid_directory::link::LinkOutcome;
    let label = match &outcome {
        LinkOutcome::Linked { username } => {
            tracing::info!(person_id, username = %username, "linked to the directory account");
            state.metrics.directory_changed();
            "linked"
        }
        LinkOutcome::AlreadyLinked { .. } => "already_linked",
        LinkOutcome::NoMatch => "no_match",
        LinkOutcome::Conflict { reason, .. } => {
            tracing::info!(
                person_id,
                reason = reason.as_str(),
                "directory link conflict recorded"
            );
            "conflict"
        }
    };
    state
        .metrics
        .account_links
        .with_label_values(&[label])
        .inc();
}
