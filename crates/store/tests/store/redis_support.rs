//! What the Redis tests share: the shared Redis, Redis servers of the tests' own
//! ([`OwnRedis`], [`own_cluster`]), and waiting without hanging.

use std::error::Error as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vneid_core::{Clock, SystemClock};
use vneid_store::{connect_ephemeral_with, Ephemeral, EphemeralOptions, StoreError};

/// How long an operation may take before the test calls it a hang. No test measures how fast
/// a timeout fired: an operation that ends with `Unavailable` while the server is still paused,
/// stopped or silent can only have been ended by the store's own timeout.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// `op`'s result, or a panic naming `what` if it hangs.
pub(crate) async fn no_hang<T>(what: &str, op: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, op)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung for {HANG:?}"))
}

/// Polls `get` until the key is gone (it expired), or panics after [`HANG`].
pub(crate) async fn until_gone(s: &dyn Ephemeral, ns: &str, key: &str) {
    no_hang(&format!("{ns}:{key} expiring"), async {
        while s.get(ns, key).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

pub(crate) fn skip() -> bool {
    if std::env::var("VNEID_TEST_SKIP_REDIS").is_ok_and(|v| v == "1") {
        eprintln!("skipped: VNEID_TEST_SKIP_REDIS=1");
        return true;
    }
    false
}

pub(crate) fn shared_url() -> String {
    std::env::var("VNEID_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub(crate) fn random_prefix() -> String {
    format!("vneid-test-{}:", uuid::Uuid::new_v4().simple())
}

pub(crate) fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The whole cause chain, as an operator would see it in the log.
pub(crate) fn chain(e: &StoreError) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

pub(crate) async fn open(url: &str, prefix: &str, timeout: Duration) -> Arc<dyn Ephemeral> {
    let opts = EphemeralOptions {
        url: url.into(),
        key_prefix: prefix.into(),
        timeout,
        ..EphemeralOptions::default()
    };
    match connect_ephemeral_with(&opts, clock()).await {
        Ok(s) => s,
        Err(e) => panic!(
            "no usable Redis ({}); start one, point VNEID_TEST_REDIS_URL at it, or set \
             VNEID_TEST_SKIP_REDIS=1",
            chain(&e)
        ),
    }
}

/// A store on the shared Redis with a prefix of its own; `None` when Redis tests are skipped.
pub(crate) async fn shared() -> Option<Arc<dyn Ephemeral>> {
    if skip() {
        return None;
    }
    Some(open(&shared_url(), &random_prefix(), Duration::from_secs(2)).await)
}

/// A raw connection for checks the trait does not offer (TTLs, key names).
pub(crate) async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A `redis-server` child on a free loopback port, with nothing on disk; killed on drop.
pub(crate) struct OwnRedis {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OwnRedis {
    /// `None` when Redis tests are skipped.
    pub(crate) async fn start(extra: &[&str]) -> Option<Self> {
        if skip() {
            return None;
        }
        let mut r = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        r.spawn();
        r.wait_ready().await;
        Some(r)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--unixsocket", &self.socket()])
            .args(["--unixsocketperm", "700"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (or set VNEID_TEST_SKIP_REDIS=1)");
        self.child = Some(child);
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn socket(&self) -> String {
        format!("{}/redis.sock", self.dir.path().display())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + HANG;
        loop {
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(Ok(mut c)) = tokio::time::timeout(
                    Duration::from_millis(500),
                    client.get_multiplexed_async_connection(),
                )
                .await
                {
                    // Any answer will do, NOAUTH included: the server is up.
                    match redis::cmd("PING").query_async::<String>(&mut c).await {
                        Ok(_) => return,
                        Err(e) if e.code().is_some() => return,
                        Err(_) => {}
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (STOP, CONT) to this child only, by its pid.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready().await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three `redis-server --cluster-enabled yes` children joined into one cluster (no replicas).
pub(crate) async fn own_cluster() -> Option<Vec<OwnRedis>> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            OwnRedis::start(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])
            .await?,
        );
    }
    let status = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("redis-cli on the PATH");
    assert!(status.success(), "redis-cli --cluster create failed");
    let deadline = Instant::now() + HANG;
    for n in &nodes {
        let mut c = raw(&n.url()).await;
        loop {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut c)
                .await
                .unwrap();
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not form");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Some(nodes)
}
