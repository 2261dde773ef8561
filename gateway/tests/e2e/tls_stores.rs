//! TLS to the stores, on the gateway's one TLS stack (rustls with aws-lc-rs), against real
//! servers that present certificates of a private CA made for each test: Redis that speaks only
//! TLS (`rediss://`, `rediss+cluster://`) and PostgreSQL with `sslmode=verify-full`. Each works
//! when the private CA is named (`ephemeral.tls_ca_file`, `sslrootcert`) and is refused, cleanly
//! and without a hang, when the certificate is untrusted or names another host.

use std::error::Error as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vneid_core::SystemClock;
use vneid_e2e::pki::TestPki;
use vneid_e2e::services::{PrivatePostgres, PrivateRedis};
use vneid_store::{connect_ephemeral_with, Database, DbOptions, EphemeralOptions, StoreError};

/// Longer than any timeout under test: an operation still running then has hung.
const HANG: Duration = Duration::from_secs(60);

async fn no_hang<T>(what: &str, op: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, op)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung for {HANG:?}"))
}

/// The whole cause chain, as the operator reads it in the log.
fn chain(e: &StoreError) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn redis_options(url: String, ca: Option<std::path::PathBuf>) -> EphemeralOptions {
    EphemeralOptions {
        url,
        key_prefix: format!("tls-{}:", vneid_e2e::rand_hex()),
        timeout: Duration::from_secs(2),
        tls_ca_file: ca,
        ..EphemeralOptions::default()
    }
}

#[tokio::test]
async fn rediss_with_the_private_ca_works_and_without_it_is_refused() {
    let pki = TestPki::new();
    let (cert, key) = pki.server("redis", "DNS:localhost,IP:127.0.0.1");
    let redis = PrivateRedis::start_tls(&cert, &key, &[]);
    let url = format!("rediss://127.0.0.1:{}/0", redis.port);
    let clock = Arc::new(SystemClock);

    let store = no_hang(
        "connecting over TLS",
        connect_ephemeral_with(&redis_options(url.clone(), Some(pki.ca())), clock.clone()),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", chain(&e)));
    store
        .put("code", "k", "v", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.take("code", "k").await.unwrap().as_deref(), Some("v"));
    let counted = store
        .incr("rate", "n", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(counted, 1);

    // The system's trust store does not know the private CA: the start fails, naming the
    // setting, the address and the reason.
    let err = no_hang(
        "connecting without the CA",
        connect_ephemeral_with(&redis_options(url, None), clock.clone()),
    )
    .await
    .err()
    .expect("an unknown CA is refused");
    let text = chain(&err);
    assert!(err.is_unavailable(), "{text}");
    assert!(
        text.contains("ephemeral.url") && text.contains("127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );

    // Plain Redis to a TLS port gets no answer it understands: refused, not hung.
    let plain = format!("redis://127.0.0.1:{}/0", redis.port);
    let err = no_hang(
        "plain redis:// to a TLS port",
        connect_ephemeral_with(&redis_options(plain, None), clock),
    )
    .await
    .err()
    .expect("not TLS");
    assert!(err.is_unavailable(), "{}", chain(&err));
}

#[tokio::test]
async fn a_redis_certificate_for_another_host_is_refused() {
    let pki = TestPki::new();
    let (cert, key) = pki.server("other", "DNS:cache.invalid");
    let redis = PrivateRedis::start_tls(&cert, &key, &[]);
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let err = no_hang(
        "connecting to a server named otherwise",
        connect_ephemeral_with(&redis_options(url, Some(pki.ca())), Arc::new(SystemClock)),
    )
    .await
    .err()
    .expect("the name does not match");
    let text = chain(&err);
    assert!(err.is_unavailable(), "{text}");
    assert!(text.contains("certificate not valid for name"), "{text}");
}

#[tokio::test]
async fn rediss_cluster_follows_the_cluster_over_tls() {
    let pki = TestPki::new();
    let (cert, key) = pki.server("node", "DNS:localhost,IP:127.0.0.1");
    let ca = pki.ca();
    let ca_arg = ca.to_str().unwrap();
    // Each node keeps its cluster state (nodes.conf) in a directory of its own.
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<PrivateRedis> = dirs
        .iter()
        .map(|dir| {
            PrivateRedis::start_tls(
                &cert,
                &key,
                &[
                    "--tls-ca-cert-file",
                    ca_arg,
                    "--tls-cluster",
                    "yes",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                    "--dir",
                    dir.path().to_str().unwrap(),
                ],
            )
        })
        .collect();
    let cli = |args: &[String]| {
        Command::new("redis-cli")
            .args(["--tls", "--cacert", ca_arg])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli on the PATH")
    };
    let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
    create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
    let created = cli(&create);
    assert!(
        created.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    let deadline = Instant::now() + HANG;
    for n in &nodes {
        let info = [
            "-p".to_owned(),
            n.port.to_string(),
            "cluster".into(),
            "info".into(),
        ];
        while !String::from_utf8_lossy(&cli(&info).stdout).contains("cluster_state:ok") {
            assert!(Instant::now() < deadline, "the cluster did not form");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let url = format!(
        "rediss+cluster://127.0.0.1:{},127.0.0.1:{}",
        nodes[0].port, nodes[1].port
    );
    let store = no_hang(
        "connecting to the cluster over TLS",
        connect_ephemeral_with(
            &redis_options(url.clone(), Some(ca.clone())),
            Arc::new(SystemClock),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", chain(&e)));
    // Enough keys to land on every node's slots; MGET is split by slot.
    let keys: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    for k in &keys {
        store
            .put("session", k, k, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let ask: Vec<(&str, &str)> = keys.iter().map(|k| ("session", k.as_str())).collect();
    let got = store.get_many(&ask).await.unwrap();
    for (k, v) in keys.iter().zip(&got) {
        assert_eq!(v.as_deref(), Some(k.as_str()));
    }

    let err = no_hang(
        "the cluster without the CA",
        connect_ephemeral_with(&redis_options(url, None), Arc::new(SystemClock)),
    )
    .await
    .err()
    .expect("an unknown CA is refused");
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
}

async fn connect_pg(url: String) -> Result<Database, StoreError> {
    let db = Database::connect_with(&DbOptions {
        acquire_timeout: Duration::from_secs(5),
        ..DbOptions::new(url, 1)
    })
    .await?;
    db.migrate().await?;
    Ok(db)
}

#[tokio::test]
async fn postgres_verify_full_with_the_private_ca_works_and_without_it_is_refused() {
    let pki = TestPki::new();
    let (cert, key) = pki.server("pg", "DNS:localhost,IP:127.0.0.1");
    let (other_cert, other_key) = pki.server("pg-other", "DNS:db.invalid");
    let pg = PrivatePostgres::start_tls(&cert, &key);
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let ca = pki.ca();

    let verified = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
    let db = no_hang("Postgres over TLS", connect_pg(verified))
        .await
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    db.check_schema().await.unwrap();

    // verify-full without the private CA: the system's trust store does not know it.
    let err = no_hang(
        "Postgres without the CA",
        connect_pg(format!("{base}?sslmode=verify-full")),
    )
    .await
    .expect_err("an unknown CA is refused");
    assert!(
        chain(&err).to_ascii_lowercase().contains("certificate"),
        "{}",
        chain(&err)
    );

    // A server whose certificate names another host.
    drop(pg);
    let pg = PrivatePostgres::start_tls(&other_cert, &other_key);
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        ca.display()
    );
    let err = no_hang("Postgres named otherwise", connect_pg(url))
        .await
        .expect_err("the name does not match");
    assert!(
        chain(&err).contains("not valid for name"),
        "{}",
        chain(&err)
    );
}
