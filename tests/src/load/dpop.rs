//! DPoP for the load generator (`--dpop`): one ES256 key for the whole run, as one portal
//! backend holds one key, a fresh proof per request, and the server's nonce kept as the
//! answers hand it out (a request refused with `use_dpop_nonce` is sent again once, with it).

use std::sync::Mutex;

use anyhow::anyhow;
use reqwest::{RequestBuilder, Response, StatusCode};
use vneid_tokens::{generate_signing_key, make_proof, ProofClaimsOut, SigningAlg, SigningKey};

use super::flow::random_hex;

#[derive(Debug)]
pub(crate) struct DpopKey {
    key: SigningKey,
    /// The last `DPoP-Nonce` a gateway answered (replicas with one master key agree on it).
    nonce: Mutex<Option<String>>,
}

impl DpopKey {
    pub(crate) fn generate() -> anyhow::Result<Self> {
        Ok(Self {
            key: generate_signing_key(
                SigningAlg::ES256,
                vneid_core::Clock::now(&vneid_core::SystemClock),
            )
            .map_err(|e| anyhow!("a DPoP key: {e}"))?,
            nonce: Mutex::new(None),
        })
    }

    /// A proof of `htm htu` (and of `token`, its `ath`) with the nonce known now, and that
    /// nonce.
    fn proof(
        &self,
        htm: &str,
        htu: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(String, Option<String>)> {
        let nonce = self
            .nonce
            .lock()
            .map_err(|_| anyhow!("nonce lock"))?
            .clone();
        let jti = random_hex()?;
        make_proof(
            &self.key,
            &ProofClaimsOut {
                htm,
                htu,
                iat: vneid_core::Clock::now(&vneid_core::SystemClock).timestamp(),
                jti: &jti,
                access_token: token,
                nonce: nonce.as_deref(),
            },
        )
        .map(|proof| (proof, nonce))
        .map_err(|e| anyhow!("a DPoP proof: {e}"))
    }

    /// Keeps the answer's nonce; true when it is not the one the proof carried (`used`).
    fn keep_nonce(&self, res: &Response, used: Option<&str>) -> bool {
        let Some(n) = res
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Ok(mut kept) = self.nonce.lock() {
            *kept = Some(n.to_owned());
        }
        used != Some(n)
    }

    /// Sends the request `build` makes with a proof of `htm htu` (`token`: the access token
    /// it goes with), once more when a refusal hands out another nonce than the proof's (users
    /// racing for the first nonce each get their retry).
    pub(crate) async fn send(
        &self,
        what: &str,
        htm: &str,
        htu: &str,
        token: Option<&str>,
        build: impl Fn() -> RequestBuilder,
    ) -> anyhow::Result<Response> {
        let mut retried = false;
        loop {
            let (proof, used) = self.proof(htm, htu, token)?;
            let res = super::flow::send(what, build().header("DPoP", proof)).await?;
            let refused = matches!(
                res.status(),
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
            );
            if self.keep_nonce(&res, used.as_deref()) && refused && !retried {
                retried = true;
                continue;
            }
            return Ok(res);
        }
    }
}
