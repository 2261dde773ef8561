//! `GET /authorize` as a service: a code from the SSO session when it is enough, or the person
//! sent to an upstream (chosen by `idp_hint`, by the client having only one, or by the person).

use super::request::{self, Invalid};
use super::upstream::{self, StartError, StartedLogin};
use super::{codes, error_redirect, session};
use crate::errors::ServiceError;
use crate::state::AppState;

/// How an authorization request is answered.
pub enum AuthorizeOutcome {
    /// Back to the portal: a code from the SSO session, or an error.
    Redirect(String),
    /// To the upstream `upstream`; the browser must keep the login's binding cookie.
    Upstream {
        upstream: String,
        started: StartedLogin,
    },
    /// Several upstreams: the person chooses (the URL to follow, the upstream's name).
    Choose(Vec<(String, String)>),
    /// The request cannot be trusted (unknown client, unregistered redirect URI): shown, with
    /// this explanation in Vietnamese.
    Invalid(String),
    /// The upstream's discovery did not answer.
    UpstreamUnreachable,
}

/// Whether the client admits the account type of the session's person (read only for a client
/// that does not admit every type).
async fn admits_account_type(
    state: &AppState,
    client_id: &str,
    person_id: &str,
) -> Result<bool, ServiceError> {
    let Some(client) = state.clients.get(client_id) else {
        return Ok(false);
    };
    if vneid_core::AccountType::ALL
        .iter()
        .all(|t| client.account_types.contains(t))
    {
        return Ok(true);
    }
    let Some(person) = state.db.person(person_id).await? else {
        return Ok(false);
    };
    Ok(vneid_policy::account_type_admitted(&client.account_types, person.account_type).is_ok())
}

/// Serves an authorization request: `raw` is its query string, `session_cookie` the browser's
/// SSO cookie value, if any.
pub async fn authorize(
    state: &AppState,
    raw: &[u8],
    session_cookie: Option<&str>,
) -> Result<AuthorizeOutcome, ServiceError> {
    let (auth, hint) = match request::parse(state, raw).await {
        Ok(a) => a,
        Err(Invalid::Page(message)) => return Ok(AuthorizeOutcome::Invalid(message)),
        Err(Invalid::Redirect(url)) => return Ok(AuthorizeOutcome::Redirect(url)),
        Err(Invalid::Failed(e)) => return Err(e),
    };

    // SSO: a live session that satisfies the request gets a code without a trip upstream. A
    // session of an account type this client does not admit does not: the person logs in again
    // (with another account, or to be refused with the page that says why).
    if let Some(cookie) = session_cookie {
        if let Some(s) = session::get(state, cookie).await? {
            if session::satisfies(&s, &auth, state.clock.now())
                && admits_account_type(state, &auth.client_id, &s.auth.person_id).await?
            {
                session::remember_client(state, cookie, &s, &auth.client_id).await?;
                return Ok(AuthorizeOutcome::Redirect(
                    codes::issue(state, &auth, &s.auth).await?,
                ));
            }
        }
    }
    let redirect_error = |error: &str, description: &str| {
        AuthorizeOutcome::Redirect(error_redirect(state, &auth, error, description))
    };
    if auth.prompt_none {
        return Ok(redirect_error(
            "login_required",
            "no session satisfies the request",
        ));
    }

    let Some(client) = state.clients.get(&auth.client_id) else {
        return Err(ServiceError::Internal("client vanished".into()));
    };
    let allowed = upstream::allowed_upstreams(state, &client);
    let chosen = match hint {
        Some(h) => match allowed.iter().find(|u| u.id() == h) {
            Some(u) => u.id().to_owned(),
            None => {
                return Ok(redirect_error(
                    "invalid_request",
                    "idp_hint names no upstream this client may use",
                ))
            }
        },
        None if allowed.len() == 1 => allowed[0].id().to_owned(),
        None if allowed.is_empty() => {
            return Ok(redirect_error(
                "server_error",
                "no upstream is configured for this client",
            ))
        }
        None => {
            let query = choice_query(state, raw, &auth).await?;
            let choices = allowed
                .iter()
                .map(|u| {
                    (
                        format!("{}?{}&idp_hint={}", state.url("/authorize"), query, u.id()),
                        u.config()
                            .display_name
                            .clone()
                            .unwrap_or_else(|| u.id().to_owned()),
                    )
                })
                .collect();
            return Ok(AuthorizeOutcome::Choose(choices));
        }
    };
    match upstream::start(state, auth.clone(), &chosen).await {
        Ok(started) => Ok(AuthorizeOutcome::Upstream {
            upstream: chosen,
            started,
        }),
        Err(StartError::UnknownUpstream) => Ok(redirect_error("server_error", "unknown upstream")),
        Err(StartError::Upstream) => Ok(AuthorizeOutcome::UpstreamUnreachable),
        Err(StartError::Service(e)) => Err(e),
    }
}

/// The query the chooser's links repeat (each adding its `idp_hint`): the request as it came,
/// or — for a pushed request, whose `request_uri` was just spent — the request pushed again
/// under a fresh `request_uri`.
async fn choice_query(
    state: &AppState,
    raw: &[u8],
    auth: &super::AuthRequest,
) -> Result<String, ServiceError> {
    let pushed = crate::params::Params::parse(raw).is_ok_and(|p| p.has("request_uri"));
    if !pushed {
        return Ok(String::from_utf8_lossy(raw).into_owned());
    }
    let (request_uri, _) = super::par::push(state, auth.clone(), None).await?;
    Ok(url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &auth.client_id)
        .append_pair("request_uri", &request_uri)
        .finish())
}
