//! Whole-login benchmark on the embedded default: authorize → simulator (password + OTP) →
//! callback (code exchange upstream, ID-token check, userinfo, policy, person upsert, audit) →
//! token (two signatures) → userinfo. Prints logins per second, median of 5 runs.
//! Run: `cargo bench -p vneid-e2e --bench login_flow`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;
use vneid_e2e::*;

const PER_RUN: usize = 40;

fn main() {
    actix_web::rt::System::new().block_on(async {
        let gw = spawn_embedded("").await;
        let mut rates = Vec::new();
        let mut token_ms = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let mut token_total = 0.0;
            for _ in 0..PER_RUN {
                let b = browser();
                let p = pkce();
                let Ended::Portal(q) = login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await else {
                    panic!("login failed")
                };
                let t = Instant::now();
                let res = exchange(&gw.url, &q["code"], &p.verifier).await;
                assert!(res.status().is_success());
                token_total += t.elapsed().as_secs_f64() * 1000.0;
            }
            rates.push(PER_RUN as f64 / started.elapsed().as_secs_f64());
            token_ms.push(token_total / PER_RUN as f64);
        }
        rates.sort_by(f64::total_cmp);
        token_ms.sort_by(f64::total_cmp);
        println!(
            "whole login (browser-side steps in series, simulator included): median {:.1} logins/s over 5 runs of {PER_RUN}; runs: {:?}",
            rates[2],
            rates.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>()
        );
        println!("token endpoint (authorization_code, RS256 ID + access token): median {:.2} ms/request", token_ms[2]);
    });
}
