//! What the embedded default and the built-in pages add: the simulator as the upstream, the
//! demo portal's and the IT centre console's clients.

use anyhow::Context as _;
use secrecy::ExposeSecret;
use url::Url;
use vneid_simulator::{SimClient, Simulator, SimulatorConfig};
use vneid_tokens::random_token;
use vneid_upstream::{Upstream, UpstreamConfig};

use crate::admin::console;
use crate::config::Settings;
use crate::demo::{self, DEMO_CLIENT};

/// The id of the built-in upstream in the embedded default.
pub const EMBEDDED_UPSTREAM: &str = "vneid";

/// Adds the simulator as the upstream (when it is enabled and none is configured) and the
/// built-in clients of the demo portal and of the console (unless configured by hand).
pub fn add_builtins(settings: &mut Settings, issuer: &str) -> anyhow::Result<()> {
    if settings.simulator.enabled && settings.upstreams.is_empty() {
        settings.upstreams.push(embedded_upstream(issuer)?);
    }
    let mut extra = Vec::new();
    for id in builtin_client_ids(settings) {
        extra.push(if id == DEMO_CLIENT {
            demo::client_settings(issuer)?
        } else if id == console::CONSOLE_CLIENT {
            console::client_settings(issuer)?
        } else {
            continue;
        });
    }
    for app in &settings.protected_apps {
        extra.push(crate::forward_auth::client_settings(app)?);
    }
    settings.clients.extend(extra);
    Ok(())
}

/// The clients the gateway adds itself: the demo portal's when `demo.enabled`, and the IT
/// centre's page's — each unless the configuration file has a client of that id — and one per
/// protected app (`[[protected_apps]]`, whose ids no client may take).
pub fn builtin_client_ids(settings: &Settings) -> Vec<String> {
    let taken = |id: &str| settings.clients.iter().any(|c| c.client_id == id);
    let mut ids = Vec::new();
    if settings.demo.enabled && !taken(DEMO_CLIENT) {
        ids.push(DEMO_CLIENT.to_owned());
    }
    if !taken(console::CONSOLE_CLIENT) {
        ids.push(console::CONSOLE_CLIENT.to_owned());
    }
    ids.extend(crate::forward_auth::client_ids(settings));
    ids
}

/// The upstreams of `settings`, each returning to `{issuer}/login/{id}/callback`, sharing one
/// HTTP client (returned too) bounded by `server.upstream_timeout`.
pub fn upstreams(
    settings: &Settings,
    issuer: &str,
) -> anyhow::Result<(Vec<Upstream>, reqwest::Client)> {
    let http = vneid_upstream::http_client(settings.server.upstream_timeout);
    let mut upstreams = Vec::new();
    for u in &settings.upstreams {
        let redirect = Url::parse(&format!("{issuer}/login/{}/callback", u.id))?;
        upstreams.push(
            Upstream::new(u.clone(), redirect, http.clone())
                .with_context(|| format!("upstreams[{}]", u.id))?,
        );
    }
    Ok((upstreams, http))
}

/// The simulator to mount at `/simulator`, when enabled.
pub fn simulator(settings: &Settings, issuer: &str) -> anyhow::Result<Option<Simulator>> {
    if settings.simulator.enabled {
        build_simulator(settings, issuer).map(Some)
    } else {
        Ok(None)
    }
}

fn embedded_upstream(issuer: &str) -> anyhow::Result<UpstreamConfig> {
    let secret = random_token(32).map_err(|e| anyhow::anyhow!("{e}"))?;
    let toml = format!(
        "id = \"{EMBEDDED_UPSTREAM}\"\nissuer = \"{issuer}/simulator\"\nclient_id = \"gateway\"\nclient_secret = \"{secret}\"\ndisplay_name = \"Tài khoản định danh điện tử VNeID (giả lập)\"\n"
    );
    Ok(toml::from_str(&toml)?)
}

fn build_simulator(settings: &Settings, issuer: &str) -> anyhow::Result<Simulator> {
    let people = match &settings.simulator.people_file {
        Some(p) => vneid_simulator::load_people(p)
            .map_err(|e| anyhow::anyhow!("simulator.people_file: {e}"))?,
        None => vneid_simulator::default_people(),
    };
    let clients = settings
        .upstreams
        .iter()
        .map(|u| SimClient {
            client_id: u.client_id.clone(),
            client_secret: u.client_secret.expose_secret().to_owned(),
            redirect_uris: vec![format!("{issuer}/login/{}/callback", u.id)],
        })
        .collect();
    let simulator = Simulator::new(SimulatorConfig {
        issuer: format!("{issuer}/simulator"),
        clients,
        people,
        field_names: settings.simulator.field_names.clone(),
    })
    .map_err(|e| anyhow::anyhow!("simulator: {e}"))?;
    if !settings.uses_production_backends() {
        return Ok(simulator);
    }
    // Only with simulator.allow_with_production_backends (validation refuses it otherwise).
    tracing::warn!(
        "the national-broker simulator is mounted at /simulator beside Postgres or Redis: \
anyone can approve any QR login and read every OTP there; never do this in production"
    );
    Ok(simulator.with_warning(
        "CẢNH BÁO: trình giả lập đang chạy cùng hệ thống thật (Postgres/Redis). Bất kỳ ai cũng \
có thể duyệt đăng nhập và đọc mã OTP tại đây. Chỉ dùng để kiểm thử.",
    ))
}
