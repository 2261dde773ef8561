//! Values that protect something: fresh random tokens from the OS CSPRNG, and comparisons that
//! take the same time wherever the first difference is.

use vneid_tokens::random_token;

/// A fresh random value from the OS CSPRNG (`bytes` × 8 bits), base64url.
pub fn fresh_token(bytes: usize) -> Result<String, crate::errors::ServiceError> {
    random_token(bytes).map_err(|e| crate::errors::ServiceError::Internal(e.to_string()))
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
