//! Private Redis and PostgreSQL servers for outage tests: started from the machine's own
//! binaries on free loopback ports, in temp dirs, so a test can stop and start them without
//! touching the shared services other tests use.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, up: bool, within: Duration) {
    let start = Instant::now();
    while start.elapsed() < within {
        let open = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if open == up {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "port {port} did not become {}",
        if up { "open" } else { "closed" }
    );
}

/// A redis-server child process.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
    /// Speaks only TLS on `port`, presenting this certificate and key.
    tls: Option<(PathBuf, PathBuf)>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with extra `redis-server` arguments (e.g. `--maxmemory 1mb`).
    pub fn start_with(extra: &[&str]) -> Self {
        let mut r = Self {
            port: free_port(),
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            tls: None,
        };
        r.resume();
        r
    }

    /// A server that speaks only TLS on its port, presenting `cert` (PEM) with `key`; it asks
    /// no client certificate. `url()` is still `redis://`: write `rediss://` to use it.
    pub fn start_tls(cert: &Path, key: &Path, extra: &[&str]) -> Self {
        let mut r = Self {
            port: free_port(),
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            tls: Some((cert.to_owned(), key.to_owned())),
        };
        r.resume();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server: every key is gone, as after a crash of a cache without persistence.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        wait_port(self.port, false, Duration::from_secs(5));
    }

    /// Starts it again on the same port.
    pub fn resume(&mut self) {
        let port = self.port.to_string();
        let ports: Vec<&str> = match &self.tls {
            None => vec!["--port", &port],
            Some((cert, key)) => vec![
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-cert-file",
                cert.to_str().unwrap(),
                "--tls-key-file",
                key.to_str().unwrap(),
                "--tls-auth-clients",
                "no",
            ],
        };
        let child = Command::new("redis-server")
            .args(&ports)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        wait_port(self.port, true, Duration::from_secs(10));
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(name)
}

/// Runs a PostgreSQL binary as the `postgres` user when we are root (initdb refuses root).
fn pg(cmd: &str, args: &[&str]) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let bin = pg_bin(cmd);
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

/// A PostgreSQL cluster of its own in a temp dir.
pub struct PrivatePostgres {
    pub port: u16,
    data: PathBuf,
    /// Server options beyond the port and address (`-c ssl=on …`).
    options: String,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        Self::start_with_tls(None)
    }

    /// A server that also accepts TLS, presenting `cert` (PEM) with `key` (copied beside the
    /// data, owned by the server's user, as PostgreSQL requires). Plain connections still work.
    pub fn start_tls(cert: &Path, key: &Path) -> Self {
        Self::start_with_tls(Some((cert, key)))
    }

    fn start_with_tls(tls: Option<(&Path, &Path)>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("vneid-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let out = pg(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut options = String::new();
        if let Some((cert, key)) = tls {
            let (c, k) = (dir.path().join("server.pem"), dir.path().join("server.key"));
            std::fs::copy(cert, &c).unwrap();
            std::fs::copy(key, &k).unwrap();
            let _ = Command::new("chown")
                .arg("postgres:postgres")
                .args([&c, &k])
                .status();
            let _ = Command::new("chmod").arg("600").arg(&k).status();
            options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                c.display(),
                k.display()
            );
        }
        let p = Self {
            port: free_port(),
            data,
            options,
            _dir: dir,
        };
        p.resume();
        p
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn resume(&self) {
        let opts = format!(
            "-p {} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off{}",
            self.port, self.options
        );
        let out = pg(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "30",
                "-l",
                "/dev/null",
                "start",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_port(self.port, true, Duration::from_secs(30));
    }

    /// Stops the server (fast shutdown: connections are cut, committed data stays).
    pub fn stop(&self) {
        let out = pg(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_port(self.port, false, Duration::from_secs(10));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = pg(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap_or(""),
                "-m",
                "immediate",
                "stop",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    }
}
