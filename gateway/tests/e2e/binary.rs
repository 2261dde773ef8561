//! The `gateway` binary under test: the one Cargo built from these sources for this test run
//! (`CARGO_BIN_EXE_gateway`), never whatever a target directory happens to hold.
use std::path::Path;
use std::process::Command;

/// The binary Cargo built for this test run.
pub fn gateway_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway"))
}

/// Runs a command of the binary with `--config config` (warnings only in its log) and returns
/// whether it succeeded, its stdout and its stderr.
pub fn run_gateway(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(gateway_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `gateway serve --config` process.
pub struct GatewayProcess {
    pub url: String,
    pub child: std::process::Child,
}

impl GatewayProcess {
    /// Starts the binary with `config` (which must bind `port`) and waits for `/healthz`.
    pub async fn start(config: &str, dir: &Path, name: &str, port: u16) -> Self {
        Self::start_logging(config, dir, name, port, None).await
    }

    /// As [`start`](Self::start); with `log`, the log goes to that file at the configured
    /// level (`RUST_LOG` unset), otherwise nowhere but warnings.
    pub async fn start_logging(
        config: &str,
        dir: &Path,
        name: &str,
        port: u16,
        log: Option<&Path>,
    ) -> Self {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let mut cmd = Command::new(gateway_bin());
        cmd.args(["serve", "--config"])
            .arg(&path)
            .envs(vneid_e2e::test_env())
            .stderr(std::process::Stdio::inherit());
        match log {
            Some(file) => {
                cmd.env_remove("RUST_LOG")
                    .stdout(std::fs::File::create(file).unwrap());
            }
            None => {
                cmd.env("RUST_LOG", "warn")
                    .stdout(std::process::Stdio::null());
            }
        }
        let child = cmd.spawn().unwrap();
        let process = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        // On a panic here `process` is dropped, which kills the child.
        vneid_e2e::eventually(&format!("gateway {name} answering /healthz"), || async {
            let r = reqwest::get(format!("{}/healthz", process.url))
                .await
                .ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        process
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary reports the build identifier of the sources it was built from; the library
/// linked into this test was built from the sources under test. A binary left in a target
/// directory by an earlier build of other sources fails here.
#[test]
fn the_binary_under_test_is_built_from_the_sources_under_test() {
    let out = Command::new(gateway_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed.trim(),
        format!("gateway {}", vneid_gateway::LONG_VERSION),
        "{} was built from other sources",
        gateway_bin().display()
    );
    assert_eq!(vneid_gateway::BUILD_ID.len(), 16);
}
