//! `profile = "fapi2"`: the OpenID Foundation's FAPI 2.0 Security Profile for one client. The
//! rules a client's settings must follow are checked here, at start-up and at registration;
//! what is enforced per request follows from [`ClientProfile`](super::ClientProfile)'s methods
//! (pushed requests, PKCE, DPoP, the code's lifetime, the assertion's algorithm).

use base64::Engine as _;
use serde_json::Value;

use super::client::field;
use super::{ClientAuthMethod, ClientSettings, ConfigError};

/// The signature algorithms the profile allows (FAPI 2.0 Security Profile §5.4: PS256, ES256,
/// EdDSA with Ed25519), for a client's assertions and DPoP proofs.
pub const ALGS: [&str; 3] = ["ES256", "PS256", "EdDSA"];

/// The longest an authorization code lives for a FAPI 2.0 client (§5.3.2.1: 60 seconds).
pub const MAX_CODE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The settings of `[[clients]]` entry `key` that contradict the profile, the first one named:
/// a confidential client authenticating with `private_key_jwt` (§5.3.2.1), pushed requests
/// (for the code flow) and DPoP not switched off (§5.3.2.2, §5.3.2.1), keys for the profile's
/// algorithms only.
pub fn check(key: &str, c: &ClientSettings) -> Result<(), ConfigError> {
    let bad = |name: &str, message: &str| {
        Err(ConfigError::new(
            field(key, name),
            format!("{message} (profile = \"fapi2\")"),
        ))
    };
    if c.auth_method() != ClientAuthMethod::PrivateKeyJwt {
        return bad(
            "token_endpoint_auth_method",
            "a FAPI 2.0 client is confidential and authenticates with \"private_key_jwt\"",
        );
    }
    let code_flow = c.grant_types.iter().any(|g| g == "authorization_code");
    if code_flow && c.require_pushed_authorization_requests == Some(false) {
        return bad(
            "require_pushed_authorization_requests",
            "FAPI 2.0 requires pushed authorization requests: leave it out or set it true",
        );
    }
    if c.dpop_bound_access_tokens == Some(false) {
        return bad(
            "dpop_bound_access_tokens",
            "FAPI 2.0 requires sender-constrained (DPoP-bound) access tokens: leave it out or set it true",
        );
    }
    let keys: Vec<Value> = c
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .and_then(|v| v["keys"].as_array().cloned())
        .unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        if let Err(why) = key_allowed(k) {
            return bad(&format!("jwks.keys[{i}]"), &why);
        }
    }
    Ok(())
}

/// A client key the profile allows: P-256 for ES256, Ed25519 for EdDSA, RSA of at least 2048
/// bits that names `alg` PS256 (without it the key would serve RS256 too).
fn key_allowed(k: &Value) -> Result<(), String> {
    let s = |name: &str| k[name].as_str().unwrap_or("");
    let alg = k.get("alg").and_then(Value::as_str);
    let only = |wanted: &str| match alg {
        None => Ok(()),
        Some(a) if a == wanted => Ok(()),
        Some(a) => Err(format!(
            "alg {:?} is not allowed (allowed: {})",
            truncated(a),
            ALGS.join(", ")
        )),
    };
    match (s("kty"), s("crv")) {
        ("EC", "P-256") => only("ES256"),
        ("OKP", "Ed25519") => only("EdDSA"),
        ("RSA", _) => {
            if alg != Some("PS256") {
                return Err("an RSA key must name \"alg\": \"PS256\"".into());
            }
            let bits = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s("n"))
                .map(|n| n.iter().skip_while(|b| **b == 0).count() * 8)
                .unwrap_or(0);
            if bits < 2048 {
                return Err("an RSA key must have at least 2048 bits".into());
            }
            Ok(())
        }
        (kty, crv) => Err(format!(
            "a {}{} key is not allowed (EC P-256, OKP Ed25519 or RSA with PS256)",
            truncated(kty),
            if crv.is_empty() {
                String::new()
            } else {
                format!(" {}", truncated(crv))
            }
        )),
    }
}

/// Text from a client's registration, cut short for an error message.
fn truncated(s: &str) -> String {
    s.chars().take(16).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::ClientProfile;

    const EC: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn fapi_client(jwks_keys: &[&str]) -> ClientSettings {
        let toml = format!(
            "client_id = \"bank\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\nredirect_uris = [\"https://bank.example/cb\"]\nprofile = \"fapi2\"\njwks = '{{\"keys\": [{}]}}'\n",
            jwks_keys.join(",")
        );
        toml::from_str(&toml).unwrap()
    }

    fn rsa(bits: usize, alg: Option<&str>) -> String {
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xc5u8; bits / 8]);
        match alg {
            Some(a) => format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB","alg":"{a}"}}"#),
            None => format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#),
        }
    }

    #[test]
    fn a_fapi2_client_gets_par_and_dpop_unless_it_contradicts_them() {
        let c = fapi_client(&[EC]);
        assert_eq!(c.profile, ClientProfile::Fapi2);
        assert!(c.requires_par() && c.dpop_bound());
        c.check("clients[0]", &[], &[], false).unwrap();
        let mut no_par = fapi_client(&[EC]);
        no_par.require_pushed_authorization_requests = Some(false);
        let mut no_dpop = fapi_client(&[EC]);
        no_dpop.dpop_bound_access_tokens = Some(false);
        for (c, field) in [
            (no_par, "require_pushed_authorization_requests"),
            (no_dpop, "dpop_bound_access_tokens"),
        ] {
            let e = c.check("clients[0]", &[], &[], false).unwrap_err();
            assert_eq!(e.key, format!("clients[0].{field}"), "{e}");
            assert!(e.message.contains("fapi2"), "{e}");
        }
        // Setting them true says what the profile says anyway.
        let mut c = fapi_client(&[EC]);
        c.require_pushed_authorization_requests = Some(true);
        c.dpop_bound_access_tokens = Some(true);
        c.check("", &[], &[], false).unwrap();
        // Without the profile, both default to off.
        let mut c = fapi_client(&[EC]);
        c.profile = ClientProfile::Standard;
        assert!(!c.requires_par() && !c.dpop_bound());
    }

    /// A machine client (client_credentials only) may follow the profile: it has no
    /// authorization request to push, and the implied PAR rule does not refuse it.
    #[test]
    fn a_fapi2_machine_client_is_accepted() {
        let mut c = fapi_client(&[EC]);
        c.redirect_uris.clear();
        c.grant_types = vec!["client_credentials".into()];
        c.scopes = vec![];
        c.check("clients[0]", &[], &[], false).unwrap();
        assert!(c.dpop_bound() && !c.requires_par());
        // What the admin API shows of it, sent back as a PATCH does, is accepted again.
        let master = vneid_tokens::MasterKey::generate().unwrap();
        let mut shown =
            crate::admin::clients::client_json(&crate::clients::Client::from_settings(&c, &master));
        assert_eq!(shown["require_pushed_authorization_requests"], false);
        assert_eq!(shown["dpop_bound_access_tokens"], true);
        if let Some(o) = shown.as_object_mut() {
            o.retain(|k, _| !["source", "created_at"].contains(&k.as_str()));
        }
        crate::admin::clients::client_from_json(&shown)
            .unwrap()
            .check("", &[], &[], false)
            .unwrap();
        // Asking for PAR by hand without the code flow is still a mistake.
        c.require_pushed_authorization_requests = Some(true);
        let e = c.check("clients[0]", &[], &[], false).unwrap_err();
        assert_eq!(e.key, "clients[0].require_pushed_authorization_requests");
    }

    #[test]
    fn a_fapi2_client_is_confidential_with_private_key_jwt() {
        for text in [
            "client_id = \"bank\"\nredirect_uris = [\"https://bank.example/cb\"]\nprofile = \"fapi2\"\n",
            "client_id = \"bank\"\nclient_secret = \"0123456789abcdef0123456789abcdef\"\nredirect_uris = [\"https://bank.example/cb\"]\nprofile = \"fapi2\"\n",
        ] {
            let c: ClientSettings = toml::from_str(text).unwrap();
            let e = c.check("clients[1]", &[], &[], false).unwrap_err();
            assert_eq!(e.key, "clients[1].token_endpoint_auth_method", "{e}");
        }
    }

    #[test]
    fn a_fapi2_client_keys_are_for_es256_ps256_or_eddsa() {
        let ed =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let ps = rsa(2048, Some("PS256"));
        fapi_client(&[EC, ed, &ps])
            .check("", &[], &[], false)
            .unwrap();
        let p384 = r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#;
        let es_as_rs = r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","alg":"RS256"}"#;
        let (rs, small, bare) = (
            rsa(2048, Some("RS256")),
            rsa(1024, Some("PS256")),
            rsa(2048, None),
        );
        for (k, why) in [
            (p384, "P-384"),
            (es_as_rs, "RS256"),
            (rs.as_str(), "PS256"),
            (small.as_str(), "2048"),
            (bare.as_str(), "PS256"),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#, "oct"),
        ] {
            let e = fapi_client(&[EC, k])
                .check("clients[0]", &[], &[], false)
                .unwrap_err();
            assert_eq!(e.key, "clients[0].jwks.keys[1]", "{e}");
            assert!(e.message.contains(why), "{why}: {e}");
        }
    }
}
