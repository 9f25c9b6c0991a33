//! Check-API bearer tokens: 256 random bits, shown once; the configuration keeps only their
//! SHA-256 (enough for random tokens: there is nothing to brute-force), compared in constant time.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Prefix of every token, so a leaked one is recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "cgt_";

/// A SHA-256 digest of a token.
pub type TokenHash = [u8; 32];

/// The token could not be made (the OS random source failed).
#[derive(Debug, thiserror::Error)]
#[error("no random bytes from the operating system")]
pub struct RandomUnavailable;

/// A fresh token: `cgt_` + 43 URL-safe base64 characters (32 random bytes).
pub fn generate() -> Result<String, RandomUnavailable> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(|_| RandomUnavailable)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// SHA-256 of a token as presented.
pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Lowercase hex of a hash, as the configuration stores it.
pub fn to_hex(hash: &TokenHash) -> String {
    use std::fmt::Write as _;
    hash.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Parses 64 hex digits; `None` otherwise.
pub fn from_hex(text: &str) -> Option<TokenHash> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Compares two hashes without an early exit.
pub fn constant_time_eq(a: &TokenHash, b: &TokenHash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_round_trips() {
        let a = generate().expect("random");
        let b = generate().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43, "{a}");
        let h = hash(&a);
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert!(constant_time_eq(&h, &hash(&a)));
        assert!(!constant_time_eq(&h, &hash(&b)));
        assert_eq!(from_hex("xyz"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }
}
