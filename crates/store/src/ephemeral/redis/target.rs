//! What an `ephemeral.url` names, and the one shared connection to it: single node or
//! cluster, plain or TLS, with the reconnection and TCP settings every connection uses.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::io::tcp::{socket2, TcpSettings};
use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion, RedisError, TlsCertificates};

use super::Conn;
use crate::ephemeral::EphemeralOptions;
use crate::StoreError;

/// Reconnection after a lost connection: an attempt at once and one more about 50 ms later,
/// no longer series. While Redis is down, a command fails as soon as Redis refuses (within
/// ~0.1 s; within the timeout when nothing answers) and starts the next series, so the first
/// command after Redis is back succeeds (see [`super::RedisEphemeral::query`]). The second attempt
/// covers a connection made in the instant a killed Redis was closing its listener, which is
/// reset rather than refused; longer series would only hold commands for nothing during an
/// outage.
const RECONNECT_RETRIES: usize = 1;
const RECONNECT_DELAY: Duration = Duration::from_millis(50);

/// A peer that stops acknowledging (a network partition, a host gone) is dropped by the kernel
/// after this long with unacknowledged data, or after keep-alive probes go unanswered while idle,
/// so the manager reconnects rather than waiting on a dead socket forever. A stopped or paused
/// Redis process still has its kernel acknowledge, so its connection is kept.
#[cfg(target_os = "linux")]
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// What an `ephemeral.url` asks for, parsed.
pub(super) enum Target {
    Single(Box<redis::ConnectionInfo>),
    Cluster(Vec<redis::ConnectionInfo>),
}

impl Target {
    /// Parses a `redis://`, `redis+unix://`, `redis+cluster://`, `rediss://` or
    /// `rediss+cluster://` URL. Errors name the setting and the scheme, never the URL (it may
    /// carry a password).
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map_or(url, |(s, _)| s);
        let bad = |why: &str| StoreError::Config(format!("ephemeral.url: {why}"));
        if scheme.starts_with("rediss") && url.contains('#') {
            // The redis crate reads `#insecure` as "skip certificate checks".
            return Err(bad(
                "a rediss:// URL takes no #fragment: the server's certificate is always \
                 verified (name a private CA with ephemeral.tls_ca_file)",
            ));
        }
        match scheme {
            "redis" | "redis+unix" | "rediss" => {
                let info = url
                    .into_connection_info()
                    .map_err(|e| bad(&format!("not a usable {scheme}:// URL ({e})")))?;
                Ok(Target::Single(Box::new(tune(info, has_protocol(url)))))
            }
            "redis+cluster" | "rediss+cluster" => {
                let node_scheme = if scheme == "rediss+cluster" {
                    "rediss"
                } else {
                    "redis"
                };
                let rest = url
                    .strip_prefix(scheme)
                    .and_then(|r| r.strip_prefix("://"))
                    .ok_or_else(|| bad(&format!("write {scheme}://host:port[,host:port…]")))?;
                let (authority, tail) = rest
                    .find(['/', '?'])
                    .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
                let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
                if !matches!(path, "" | "/" | "/0") {
                    return Err(bad("a Redis Cluster has only database 0"));
                }
                let (userinfo, hosts) = match authority.rsplit_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, authority),
                };
                let explicit_protocol = has_protocol(url);
                let mut nodes = Vec::new();
                for host in hosts.split(',') {
                    if host.is_empty() {
                        return Err(bad(&format!("{scheme}:// needs host:port[,host:port…]")));
                    }
                    let node = match userinfo {
                        Some(u) => format!("{node_scheme}://{u}@{host}/"),
                        None => format!("{node_scheme}://{host}/"),
                    };
                    let node = if query.is_empty() {
                        node
                    } else {
                        format!("{node}?{query}")
                    };
                    let info = node
                        .as_str()
                        .into_connection_info()
                        .map_err(|e| bad(&format!("not a usable {scheme}:// node list ({e})")))?;
                    nodes.push(tune(info, explicit_protocol));
                }
                Ok(Target::Cluster(nodes))
            }
            "rediss+unix" => Err(StoreError::Unsupported(
                "ephemeral.url: rediss+unix:// (TLS over a local socket) is not supported; use \
                 redis+unix://, or rediss:// over TCP"
                    .into(),
            )),
            "redis+sentinel" | "rediss+sentinel" => Err(StoreError::Unsupported(format!(
                "ephemeral.url: {scheme}:// is not supported by this build; use redis:// (a \
                 Sentinel-managed service address), redis+unix:// or redis+cluster://"
            ))),
            _ => Err(StoreError::Unsupported(format!(
                "ephemeral.url: unknown scheme {scheme:?} for a Redis store"
            ))),
        }
    }

    /// Whether every connection is made over TLS (`rediss://`, `rediss+cluster://`).
    pub(super) fn is_tls(&self) -> bool {
        let tls =
            |info: &redis::ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        match self {
            Target::Single(info) => tls(info),
            Target::Cluster(nodes) => nodes.iter().all(tls),
        }
    }

    pub(super) fn backend(&self) -> &'static str {
        match self {
            Target::Single(_) => "redis",
            Target::Cluster(_) => "redis-cluster",
        }
    }

    /// The address(es) for logs and errors: host:port or socket path, no credentials.
    pub(super) fn describe(&self) -> String {
        match self {
            Target::Single(info) => info.addr().to_string(),
            Target::Cluster(nodes) => nodes
                .iter()
                .map(|n| n.addr().to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The shared connection: established now (the caller bounds the wait). `certs`: a private
    /// CA to verify a TLS server against, instead of the system's trust store.
    pub(super) async fn open(
        &self,
        timeout: Duration,
        certs: Option<TlsCertificates>,
    ) -> Result<Conn, RedisError> {
        match self {
            Target::Single(info) => {
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(info.as_ref().clone(), certs)?,
                    None => redis::Client::open(info.as_ref().clone())?,
                };
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_min_delay(RECONNECT_DELAY)
                    .set_max_delay(RECONNECT_DELAY);
                Ok(Conn::Single(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            Target::Cluster(nodes) => {
                let mut builder = ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .tcp_settings(tcp_settings());
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// The private CA of `ephemeral.tls_ca_file`, read and checked now: a missing or unreadable
/// file, one without a PEM certificate, or a CA given for a URL without TLS is a configuration
/// error that names the setting.
pub(super) fn tls_certificates(
    opts: &EphemeralOptions,
    target: &Target,
) -> Result<Option<TlsCertificates>, StoreError> {
    let Some(path) = &opts.tls_ca_file else {
        return Ok(None);
    };
    let bad = |why: String| StoreError::Config(format!("ephemeral.tls_ca_file: {why}"));
    if !target.is_tls() {
        return Err(bad(
            "a CA is only used over TLS: write the URL as rediss:// or rediss+cluster://".into(),
        ));
    }
    let pem = std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    if !pem
        .windows(CERT_PEM.len())
        .any(|w| w == CERT_PEM.as_bytes())
    {
        return Err(bad(format!(
            "{}: no PEM certificate in it ({CERT_PEM}…)",
            path.display()
        )));
    }
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----";

/// RESP3 unless the URL chose a protocol, and the TCP settings above.
fn tune(info: redis::ConnectionInfo, explicit_protocol: bool) -> redis::ConnectionInfo {
    let info = info.set_tcp_settings(tcp_settings());
    if explicit_protocol {
        info
    } else {
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        info.set_redis_settings(settings)
    }
}

fn tcp_settings() -> TcpSettings {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE_IDLE)
        .with_interval(TCP_KEEPALIVE_INTERVAL);
    #[cfg(target_os = "linux")]
    let keepalive = keepalive.with_retries(3);
    let settings = TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive);
    #[cfg(target_os = "linux")]
    let settings = settings.set_user_timeout(TCP_USER_TIMEOUT);
    settings
}

/// Whether the URL's query names a `protocol`.
fn has_protocol(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("protocol"))
    })
}
