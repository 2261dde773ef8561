//! A private certificate authority for TLS tests, made with the machine's `openssl` in a temp
//! dir: a CA and server certificates it signs, for Redis and PostgreSQL servers that speak TLS.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A new CA (`ca.pem`), valid for two days.
    pub fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=vneid test CA",
        ]);
        pki
    }

    /// The CA's certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `NAME.pem` and `NAME.key`: a server certificate for `san` (`DNS:…,IP:…`), signed by
    /// the CA.
    pub fn server(&self, name: &str, san: &str) -> (PathBuf, PathBuf) {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(self.path(&ext), format!("subjectAltName={san}\n")).unwrap();
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=server",
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
        (self.path(&pem), self.path(&key))
    }

    fn openssl(&self, args: &[&str]) {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl on the PATH");
        assert!(status.success(), "openssl {args:?} failed");
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}
