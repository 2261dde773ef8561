//! API resources (RFC 8707): which audience a grant is for and which scopes it may carry. One
//! home for the rules `/authorize`, the token endpoint's grants and token exchange share:
//!
//! - an access token has exactly one audience: a resource's, or the client's own id;
//! - a resource's scopes travel only in tokens for that resource, and `resource=` is how a
//!   client asks for them (one resource per request);
//! - a client gets only scopes it holds.

use actix_web::http::StatusCode;

use crate::config::ResourceSettings;
use crate::errors::OAuthError;
use crate::params::Params;

/// Why a request's resource or scopes are refused: the OAuth error code and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// `invalid_scope` (RFC 6749 §5.2).
    Scope(String),
    /// `invalid_target` (RFC 8707 §2).
    Target(String),
}

impl TargetError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Scope(_) => "invalid_scope",
            Self::Target(_) => "invalid_target",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Self::Scope(d) | Self::Target(d) => d,
        }
    }
}

impl From<TargetError> for OAuthError {
    fn from(e: TargetError) -> Self {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            e.code(),
            e.description().to_owned(),
        )
    }
}

/// The resources of the configuration.
#[derive(Clone, Copy)]
pub struct Resources<'a>(pub &'a [ResourceSettings]);

impl<'a> Resources<'a> {
    /// The resource whose scope `scope` is.
    pub fn owner(self, scope: &str) -> Option<&'a ResourceSettings> {
        self.0.iter().find(|r| r.scopes.iter().any(|s| s == scope))
    }

    /// The resource named by its audience (`resource=`), or at token exchange's `audience=`
    /// also by its id.
    pub fn by_audience(self, audience: &str) -> Option<&'a ResourceSettings> {
        self.0.iter().find(|r| r.audience == audience)
    }

    pub fn by_name(self, name: &str) -> Option<&'a ResourceSettings> {
        self.by_audience(name)
            .or_else(|| self.0.iter().find(|r| r.id == name))
    }

    /// Every resource scope, in configuration order.
    pub fn scopes(self) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .flat_map(|r| r.scopes.iter().map(String::as_str))
    }

    /// The resource a grant is for: the one its scopes belong to (a grant holds scopes of one
    /// resource at most), or `None` when it is for the client itself.
    pub fn of_grant(self, scopes: &[String]) -> Option<&'a ResourceSettings> {
        scopes.iter().find_map(|s| self.owner(s))
    }

    /// The audience and the scopes of an access token for a grant: the resource's audience and
    /// its scopes only, or the client's id and the grant's scopes.
    pub fn access_view(self, client_id: &str, scopes: &[String]) -> (String, Vec<String>) {
        match self.of_grant(scopes) {
            Some(r) => (
                r.audience.clone(),
                scopes
                    .iter()
                    .filter(|s| r.scopes.contains(s))
                    .cloned()
                    .collect(),
            ),
            None => (client_id.to_owned(), scopes.to_vec()),
        }
    }

    /// The resource a request names with `resource=` (RFC 8707 §2): none, or one this gateway
    /// serves. Two at once are refused: a token has one audience.
    pub fn requested(self, p: &Params) -> Result<Option<&'a ResourceSettings>, TargetError> {
        if p.repeated("resource") {
            return Err(TargetError::Target(
                "one resource per request: an access token has exactly one audience".into(),
            ));
        }
        match p.get("resource") {
            None => Ok(None),
            Some(v) => self
                .by_audience(v)
                .map(Some)
                .ok_or_else(|| TargetError::Target(format!("unknown resource {v:?}"))),
        }
    }

    /// The scopes a request is granted.
    ///
    /// - `asked`: the scopes the request names.
    /// - `resource`: the resource it names, if any; a scope of another resource (or of any
    ///   resource when none is named) is `invalid_scope`.
    /// - `strict`: a scope the client does not hold is `invalid_scope` (`client_credentials`);
    ///   otherwise it is left out (RFC 6749 §3.3, `/authorize`).
    ///
    /// With a resource, a client holding none of its scopes is `invalid_target`; asking none of
    /// them grants every one of them the client holds.
    pub fn select(
        self,
        client_scopes: &[String],
        asked: &[&str],
        resource: Option<&ResourceSettings>,
        strict: bool,
    ) -> Result<Vec<String>, TargetError> {
        for s in asked {
            match (self.owner(s), resource) {
                (Some(owner), None) => {
                    return Err(TargetError::Scope(format!(
                        "scope {s:?} is of the API {:?}: ask for it with resource={}",
                        owner.audience, owner.audience
                    )))
                }
                (Some(owner), Some(r)) if owner.id != r.id => {
                    return Err(TargetError::Scope(format!(
                        "scope {s:?} is of another resource than {:?}",
                        r.audience
                    )))
                }
                _ => {}
            }
        }
        let holds = |s: &str| client_scopes.iter().any(|c| c == s);
        let mut granted: Vec<String> = Vec::new();
        for s in asked {
            if !holds(s) {
                if strict {
                    return Err(TargetError::Scope(format!(
                        "scope {s:?} is not granted to this client"
                    )));
                }
                continue;
            }
            if !granted.iter().any(|g| g == s) {
                granted.push((*s).to_owned());
            }
        }
        if let Some(r) = resource {
            let held: Vec<&String> = client_scopes
                .iter()
                .filter(|c| r.scopes.contains(c))
                .collect();
            if held.is_empty() {
                return Err(TargetError::Target(format!(
                    "this client may not call the resource {:?}",
                    r.audience
                )));
            }
            if !granted.iter().any(|g| r.scopes.contains(g)) {
                granted.extend(held.into_iter().cloned());
            }
        }
        Ok(granted)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn resources() -> Vec<ResourceSettings> {
        vec![
            ResourceSettings {
                id: "hoso-api".into(),
                audience: "https://hoso.example.gov.vn/api".into(),
                scopes: vec!["hoso.read".into(), "hoso.write".into()],
            },
            ResourceSettings {
                id: "thanhtoan".into(),
                audience: "https://pay.example.gov.vn".into(),
                scopes: vec!["pay".into()],
            },
        ]
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_resource_scope_needs_its_resource() {
        let rs = resources();
        let r = Resources(&rs);
        let client = strings(&["openid", "hoso.read", "pay"]);
        let err = r
            .select(&client, &["openid", "hoso.read"], None, false)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_scope");
        let err = r
            .select(&client, &["openid", "pay"], Some(&rs[0]), false)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_scope", "{err:?}");
        assert_eq!(
            r.select(&client, &["openid", "hoso.read"], Some(&rs[0]), false)
                .unwrap(),
            strings(&["openid", "hoso.read"])
        );
    }

    #[test]
    fn naming_a_resource_grants_what_the_client_holds_of_it() {
        let rs = resources();
        let r = Resources(&rs);
        let client = strings(&["openid", "hoso.read"]);
        // hoso.write is not held: left out at /authorize, refused when strict.
        assert_eq!(
            r.select(&client, &["openid", "hoso.write"], Some(&rs[0]), false)
                .unwrap(),
            strings(&["openid", "hoso.read"])
        );
        assert_eq!(
            r.select(&client, &["hoso.write"], Some(&rs[0]), true)
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
        assert_eq!(
            r.select(&client, &[], Some(&rs[1]), true)
                .unwrap_err()
                .code(),
            "invalid_target"
        );
    }

    #[test]
    fn an_access_token_has_one_audience() {
        let rs = resources();
        let r = Resources(&rs);
        let (aud, scopes) = r.access_view("portal", &strings(&["openid", "profile", "hoso.read"]));
        assert_eq!(aud, "https://hoso.example.gov.vn/api");
        assert_eq!(scopes, strings(&["hoso.read"]));
        let (aud, scopes) = r.access_view("portal", &strings(&["openid", "profile"]));
        assert_eq!(aud, "portal");
        assert_eq!(scopes, strings(&["openid", "profile"]));
    }

    #[test]
    fn one_resource_per_request() {
        let rs = resources();
        let r = Resources(&rs);
        let two = Params::parse(
            b"resource=https%3A%2F%2Fhoso.example.gov.vn%2Fapi&resource=https%3A%2F%2Fpay.example.gov.vn",
        )
        .unwrap();
        assert_eq!(r.requested(&two).unwrap_err().code(), "invalid_target");
        let unknown = Params::parse(b"resource=https%3A%2F%2Fevil.example").unwrap();
        assert_eq!(r.requested(&unknown).unwrap_err().code(), "invalid_target");
        let one = Params::parse(b"resource=https%3A%2F%2Fpay.example.gov.vn").unwrap();
        assert_eq!(r.requested(&one).unwrap().unwrap().id, "thanhtoan");
    }
}
