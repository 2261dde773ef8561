//! Signing and verification throughput: `cargo bench -p vneid-tokens`.
//!
//! A script that prints figures, never a test that fails on time. Each line: N operations,
//! timed 5 times (after one warm-up run); the median run's operations per second and time per
//! operation, with the slowest and fastest runs beside it. One thread: on the 2-core machines
//! of this project a second worker roughly doubles the totals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use vneid_tokens::{
    at_hash, generate_signing_key, random_token, AccessTokenClaims, Audience, IdTokenClaims,
    KeySet, MasterKey, SigningAlg, TYP_ACCESS_TOKEN, TYP_ID_TOKEN,
};

const RUNS: usize = 5;
const ISSUER: &str = "https://sso.binhdinh.example.gov.vn";

fn measure(label: &str, n: usize, mut op: impl FnMut()) {
    for _ in 0..n.min(50) {
        op(); // warm-up
    }
    let mut runs: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                op();
            }
            start.elapsed()
        })
        .collect();
    runs.sort();
    let per_sec = |d: Duration| n as f64 / d.as_secs_f64();
    let median = runs[RUNS / 2];
    println!(
        "{label:<34} n={n:<6} median {:>9.0} ops/s  {:>8.1} µs/op   (runs {:.0}..{:.0} ops/s)",
        per_sec(median),
        median.as_secs_f64() * 1e6 / n as f64,
        per_sec(runs[RUNS - 1]),
        per_sec(runs[0]),
    );
}

fn id_claims(alg: SigningAlg, now: i64) -> IdTokenClaims {
    IdTokenClaims {
        iss: ISSUER.into(),
        sub: "3f1c2a9e-6a0b-4c1e-9d2f-7b8e5a4c3d21".into(),
        aud: "mot-cua-portal".into(),
        exp: now + 600,
        iat: now,
        auth_time: now - 20,
        nonce: Some(random_token(16).unwrap()),
        acr: "urn:vneid:loa:2".into(),
        amr: Some(vec!["pwd".into(), "otp".into()]),
        azp: Some("mot-cua-portal".into()),
        sid: random_token(32).unwrap(),
        idp: "dvcqg".into(),
        login_idp: Some("BCA".into()),
        name: Some("Nguyễn Văn An".into()),
        birthdate: Some("1990-01-02".into()),
        personal_id: Some("052090123481".into()),
        account: Some(serde_json::json!({"username": "nvan", "unit": "UBND phường Quy Nhơn"})),
        account_type: Some("citizen".into()),
        organisation: None,
        at_hash: Some(at_hash(&random_token(32).unwrap(), alg)),
    }
}

fn access_claims(now: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.into(),
        exp: now + 600,
        aud: Audience::One("mot-cua-portal".into()),
        sub: "3f1c2a9e-6a0b-4c1e-9d2f-7b8e5a4c3d21".into(),
        client_id: "mot-cua-portal".into(),
        iat: now,
        jti: random_token(16).unwrap(),
        scope: "openid profile personal_id account".into(),
        auth_time: Some(now - 20),
        acr: Some("urn:vneid:loa:2".into()),
        sid: Some(random_token(32).unwrap()),
        idp: Some("dvcqg".into()),
        login_idp: Some("BCA".into()),
        act: None,
        cnf: None,
        account_type: Some("citizen".into()),
    }
}

fn main() {
    let now = Utc::now();
    let master = MasterKey::generate().unwrap();
    println!("vneid-tokens sign/verify benchmark: {RUNS} runs each, median shown, one thread\n");

    measure("RS256 key generation (2048)", 5, || {
        black_box(generate_signing_key(SigningAlg::RS256, now).unwrap());
    });

    for alg in SigningAlg::ALL {
        let key = generate_signing_key(alg, now).unwrap();
        let record = master.seal_signing_key(&key, now).unwrap();
        let set = KeySet::from_records(&[record], &master, now).unwrap();
        let id = id_claims(alg, now.timestamp());
        let access = access_claims(now.timestamp());
        let n_sign = if alg == SigningAlg::RS256 { 500 } else { 5_000 };

        measure(&format!("{alg} sign ID token"), n_sign, || {
            black_box(set.sign(TYP_ID_TOKEN, black_box(&id)).unwrap());
        });
        measure(&format!("{alg} sign access token"), n_sign, || {
            black_box(set.sign(TYP_ACCESS_TOKEN, black_box(&access)).unwrap());
        });
        let token = set.sign(TYP_ACCESS_TOKEN, &access).unwrap();
        measure(&format!("{alg} verify access token"), 5_000, || {
            black_box(
                set.verify::<AccessTokenClaims>(black_box(&token), TYP_ACCESS_TOKEN, ISSUER, now)
                    .unwrap(),
            );
        });
        if alg == SigningAlg::RS256 {
            println!(
                "  RS256 ID token: {} bytes",
                set.sign(TYP_ID_TOKEN, &id).unwrap().len()
            );
        }
    }

    println!();
    let secret = random_token(32).unwrap();
    let stored = master.hash_client_secret(&secret);
    measure("client secret verify (HMAC)", 100_000, || {
        assert!(master.verify_client_secret(black_box(&secret), &stored));
    });
    let sealed = master.seal(b"052090123481", b"people.personal_id").unwrap();
    measure("seal personal ID (AES-GCM)", 100_000, || {
        black_box(
            master
                .seal(black_box(b"052090123481"), b"people.personal_id")
                .unwrap(),
        );
    });
    measure("open personal ID (AES-GCM)", 100_000, || {
        black_box(
            master
                .open(black_box(&sealed), b"people.personal_id")
                .unwrap(),
        );
    });
    measure("lookup hash (HMAC)", 100_000, || {
        black_box(master.personal_id_hash(black_box("052090123481")));
    });
}
