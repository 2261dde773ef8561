//! The Redis ephemeral store: every replica of the gateway shares one Redis (or Redis Cluster).
//!
//! - `redis://[user:pass@]host[:port][/db]` and `redis+unix:///path/redis.sock[?db=N&pass=…]`:
//!   one multiplexed connection behind a [`ConnectionManager`], which reconnects by itself.
//! - `redis+cluster://[user:pass@]host:port[,host:port…]`: the async cluster client, seeded with
//!   those nodes; it follows the cluster's topology and reconnects by itself.
//! - `rediss://…` and `rediss+cluster://…`: the same over TLS, on the gateway's one TLS stack
//!   (rustls with aws-lc-rs). The server's certificate must chain to the system's trust store,
//!   or to the CA(s) in `tls_ca_file` for a private CA, and name the host of the URL. There is
//!   no way to turn verification off (`#insecure` is refused).
//! - `rediss+unix://` and `redis+sentinel://` are refused with [`StoreError::Unsupported`].
//!
//! RESP3 is spoken unless the URL says `?protocol=resp2`: over RESP3 Redis tells the connection
//! when it closes, so the manager reconnects at once instead of on the next failed command.
//!
//! Every command is bounded by the store's timeout, so a stopped, paused or unreachable Redis
//! gives [`StoreError::Unavailable`] after at most about that long, never a hang. Keys are
//! `{key_prefix}{ns}:{key}` (a `:` or `%` inside `ns` is percent-escaped, so no two `(ns, key)`
//! pairs share a key); every command touches one key, so the layout suits Redis Cluster. The
//! one exception, `MGET` ([`Ephemeral::get_many`]), is split by hash slot by the cluster client.
//!
//! A Redis at its `maxmemory` under the `noeviction` policy refuses writes with `OOM`: that is
//! [`StoreError::Full`] (`limit` 0), not an outage; reads, takes and deletes still work. Under an
//! eviction policy (`volatile-*`, `allkeys-*`) Redis never refuses: it drops other live values
//! (codes, sessions, replay-cache entries) to make room, silently. Run the gateway's Redis with
//! `noeviction`.

use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

use self::target::{tls_certificates, Target};
use super::{ttl_millis, Ephemeral, EphemeralOptions};
use crate::{BoxError, StoreError};

mod target;

/// The longest TTL sent to Redis (100 years): `SET … PX` refuses a deadline past `i64::MAX` ms.
const MAX_TTL_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// `INCR`, and `PEXPIRE` when the increment created the counter: one atomic step.
const INCR_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// One shared connection: single node or cluster. Cloning is cheap (a handle on the same
/// multiplexed connection or cluster state); no command ever opens a connection of its own.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The Redis [`Ephemeral`] store. Expiry is Redis's own (`PX` TTLs on its clock); the gateway's
/// injected clock plays no part here.
pub struct RedisEphemeral {
    conn: Conn,
    prefix: String,
    timeout: Duration,
    backend: &'static str,
}

impl std::fmt::Debug for RedisEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEphemeral")
            .field("backend", &self.backend)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// No answer within the store's timeout.
#[derive(Debug, thiserror::Error)]
#[error("no answer from Redis within {0:?}")]
struct TimedOut(Duration);

/// The first connection failed: names the setting and the address, never the password.
#[derive(Debug, thiserror::Error)]
#[error("ephemeral.url: cannot use Redis at {addr}")]
struct ConnectError {
    addr: String,
    #[source]
    cause: BoxError,
}

impl RedisEphemeral {
    /// Connects to the Redis named by `opts.url` (`redis://`, `redis+unix://`,
    /// `redis+cluster://`, or over TLS `rediss://` and `rediss+cluster://`) and checks that it
    /// answers and knows `GETDEL` (Redis 6.2+).
    ///
    /// A Redis that cannot be reached within `opts.timeout` fails the start with
    /// [`StoreError::Unavailable`], whose source names `ephemeral.url` and the address: a
    /// gateway that started without its shared store would refuse every login anyway, and the
    /// operator learns at once what to fix. Once started, an outage only fails the commands
    /// made during it (each within `opts.timeout`); the connection comes back by itself.
    pub async fn connect(opts: &EphemeralOptions) -> Result<Self, StoreError> {
        if opts.timeout.is_zero() {
            return Err(StoreError::Config(
                "ephemeral.timeout must be longer than zero".into(),
            ));
        }
        let target = Target::parse(&opts.url)?;
        let certs = tls_certificates(opts, &target)?;
        let addr = target.describe();
        let backend = target.backend();
        let started = Instant::now();
        let connected = async {
            let conn = with_timeout(opts.timeout, target.open(opts.timeout, certs)).await?;
            let store = Self {
                conn,
                prefix: opts.key_prefix.clone(),
                timeout: opts.timeout,
                backend,
            };
            store.ping().await?;
            store.check_getdel().await?;
            Ok::<_, StoreError>(store)
        };
        // The whole start, not only each step, within the timeout.
        let connected = tokio::time::timeout(opts.timeout, connected)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(Box::new(TimedOut(opts.timeout)))));
        match connected {
            Ok(store) => {
                tracing::info!(
                    backend,
                    addr = %addr,
                    tls = target.is_tls(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "connected to the ephemeral store"
                );
                Ok(store)
            }
            Err(StoreError::Unavailable(cause)) => {
                Err(StoreError::Unavailable(Box::new(ConnectError {
                    addr,
                    cause,
                })))
            }
            Err(StoreError::Other(cause)) => {
                Err(StoreError::Other(Box::new(ConnectError { addr, cause })))
            }
            // Already name `ephemeral.url` and what to change.
            Err(other) => Err(other),
        }
    }

    /// The prefix in front of every key of this store.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of `(ns, key)`.
    fn key(&self, ns: &str, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + ns.len() + key.len() + 1);
        k.push_str(&self.prefix);
        if ns.contains([':', '%']) {
            for c in ns.chars() {
                match c {
                    ':' => k.push_str("%3A"),
                    '%' => k.push_str("%25"),
                    c => k.push(c),
                }
            }
        } else {
            k.push_str(ns);
        }
        k.push(':');
        k.push_str(key);
        k
    }

    /// Runs one command within the timeout.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let run = async {
            let mut conn = self.conn.clone();
            match cmd.query_async(&mut conn).await {
                // A refused connection proves the command never left: try once more, which
                // waits on the reconnection that refusal started (the Redis may be back).
                Err(e) if e.is_connection_refusal() => cmd.query_async(&mut conn).await,
                other => other,
            }
        };
        with_timeout(self.timeout, run).await
    }

    /// `GETDEL` on a key no value ever uses (it has no `:` after the prefix): refuses a Redis
    /// older than 6.2, where single-use values could not be taken atomically.
    async fn check_getdel(&self) -> Result<(), StoreError> {
        let probe = format!("{}getdel-probe", self.prefix);
        match self
            .query::<Option<Vec<u8>>>(redis::cmd("GETDEL").arg(&probe))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Other(e))
                if e.to_string()
                    .to_ascii_lowercase()
                    .contains("unknown command") =>
            {
                Err(StoreError::Unsupported(
                    "ephemeral.url: this Redis does not know GETDEL; Redis 6.2 or newer is needed"
                        .into(),
                ))
            }
            Err(e) => Err(e),
        }
    }
}

/// Bounds `fut` by `timeout`; a Redis error is mapped to a [`StoreError`].
async fn with_timeout<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result.map_err(store_error),
        Err(_) => Err(StoreError::Unavailable(Box::new(TimedOut(timeout)))),
    }
}

/// Error codes Redis answers when it cannot serve now but may soon.
const UNAVAILABLE_CODES: &[&str] = &["BUSY", "MISCONF", "NOREPLICAS", "MASTERDOWN"];

fn store_error(e: RedisError) -> StoreError {
    // What INCR (inside the script) or any command says of a key holding something else.
    let text = e.to_string();
    if text.contains("not an integer") {
        return StoreError::Corrupt("incr on a value that is not a counter".into());
    }
    if e.code() == Some("WRONGTYPE") {
        return StoreError::Corrupt("a key holding another type than a string".into());
    }
    if text.contains("would overflow") {
        return StoreError::Corrupt("a counter at its maximum".into());
    }
    // `OOM command not allowed when used memory > 'maxmemory'`: full, under `noeviction` (also
    // from a write inside the INCR script). Redis states no entry count: `limit` 0.
    if e.code() == Some("OOM") {
        return StoreError::Full { limit: 0 };
    }
    let unavailable = match e.kind() {
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => true,
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        ) => true,
        _ => e.code().is_some_and(|c| UNAVAILABLE_CODES.contains(&c)),
    };
    if unavailable {
        return StoreError::Unavailable(Box::new(e));
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed => {
            StoreError::Config("ephemeral.url: Redis refused the credentials".into())
        }
        ErrorKind::InvalidClientConfig => StoreError::Config(format!("ephemeral.url: {e}")),
        _ if matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM")) => StoreError::Config(
            format!("ephemeral.url: Redis refused the command for these credentials ({e})"),
        ),
        _ => StoreError::Other(Box::new(e)),
    }
}

/// The value bytes as text; anything else was not written by this store.
fn text(v: Option<Vec<u8>>) -> Result<Option<String>, StoreError> {
    v.map(|b| {
        String::from_utf8(b).map_err(|_| StoreError::Corrupt("a value that is not UTF-8".into()))
    })
    .transpose()
}

fn px(ttl: Duration) -> i64 {
    ttl_millis(ttl).min(MAX_TTL_MS)
}

#[async_trait::async_trait]
impl Ephemeral for RedisEphemeral {
    async fn put(&self, ns: &str, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let cmd = redis::cmd("SET")
            .arg(self.key(ns, key))
            .arg(value)
            .arg("PX")
            .arg(px(ttl))
            .to_owned();
        self.query::<()>(&cmd).await
    }

    async fn put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let cmd = redis::cmd("SET")
            .arg(self.key(ns, key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(px(ttl))
            .to_owned();
        match self.query::<Value>(&cmd).await? {
            Value::Nil => Ok(false),
            Value::Okay | Value::SimpleString(_) => Ok(true),
            other => Err(StoreError::Other(
                format!("SET NX answered {other:?}").into(),
            )),
        }
    }

    async fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError> {
        let cmd = redis::cmd("GET").arg(self.key(ns, key)).to_owned();
        text(self.query(&cmd).await?)
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for (ns, key) in keys {
            cmd.arg(self.key(ns, key));
        }
        let values: Vec<Option<Vec<u8>>> = self.query(&cmd).await?;
        if values.len() != keys.len() {
            return Err(StoreError::Other(
                format!(
                    "MGET of {} keys answered {} values",
                    keys.len(),
                    values.len()
                )
                .into(),
            ));
        }
        values.into_iter().map(text).collect()
    }

    async fn take(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError> {
        let cmd = redis::cmd("GETDEL").arg(self.key(ns, key)).to_owned();
        text(self.query(&cmd).await?)
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        let cmd = redis::cmd("DEL").arg(self.key(ns, key)).to_owned();
        self.query::<i64>(&cmd).await.map(|_| ())
    }

    async fn incr(&self, ns: &str, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        // EVAL with the script's text (Redis caches it compiled): no EVALSHA/NOSCRIPT round
        // trip to get wrong after a restart or failover.
        let cmd = redis::cmd("EVAL")
            .arg(INCR_SCRIPT)
            .arg(1)
            .arg(self.key(ns, key))
            .arg(px(ttl))
            .to_owned();
        let n: i64 = self.query(&cmd).await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("a negative counter".into()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }

    fn backend(&self) -> &'static str {
        self.backend
    }

    /// `None`: counting keys is a round trip (and on a shared Redis would count other
    /// prefixes' keys too).
    fn entries(&self) -> Option<usize> {
        None
    }

    /// Nothing to do: Redis expires keys by itself (and frees their memory).
    async fn purge_expired(&self) {}
}
