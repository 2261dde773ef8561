//! Random secrets and their comparison: every random value the broker hands out is drawn here,
//! and every secret it is shown is compared here, in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The OS random generator failed.
#[derive(Debug)]
pub(super) struct RngFailure;

/// `N` bytes from the OS random generator.
fn random_bytes<const N: usize>() -> Result<[u8; N], RngFailure> {
    let mut buf = [0u8; N];
    OsRng.try_fill_bytes(&mut buf).map_err(|_| RngFailure)?;
    Ok(buf)
}

/// 256 random bits, base64url.
pub(super) fn random_token() -> Result<String, RngFailure> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// 128 random bits, base64url (22 characters): short enough to read off a screen.
pub(super) fn random_ref() -> Result<String, RngFailure> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// Six uniformly random digits.
pub(super) fn random_otp() -> Result<String, RngFailure> {
    // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32: reject above it, no bias.
    loop {
        let v = u32::from_be_bytes(random_bytes::<4>()?);
        if v < 4_294_000_000 {
            return Ok(format!("{:06}", v % 1_000_000));
        }
    }
}

/// Equality that takes the same time wherever the inputs differ (and whatever their lengths).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
