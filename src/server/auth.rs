//! The write token: kept only as a SHA-256 digest, compared in constant time whatever the
//! lengths, and never printed (its `Debug` is redacted).
//!
//! [`tokens_equal`] hashes both sides to 32 bytes and compares the digests with `subtle`, so the
//! time taken depends neither on where the first differing byte is nor on the length of the
//! configured token (a plain `==`, or `subtle` over the raw bytes, returns early on a length
//! mismatch). `benches/token.rs` measures it.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured bearer token, held as its SHA-256 digest.
///
/// ```
/// use clustermatch::server::auth::Token;
/// let token = Token::new("s3cret");
/// assert!(token.matches(b"s3cret"));
/// assert!(!token.matches(b"s3crex"));
/// assert!(!format!("{token:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl Token {
    /// Keeps the digest of a token (the text itself is not stored).
    pub fn new(secret: &str) -> Token {
        Token {
            digest: digest(secret.as_bytes()),
        }
    }

    /// Whether `given` is the token, in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        bool::from(digest(given).ct_eq(&self.digest))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether two secrets are equal, in time independent of their contents and of the length of
/// `expected` (both are hashed to 32 bytes, then compared with `subtle`).
///
/// ```
/// use clustermatch::server::auth::tokens_equal;
/// assert!(tokens_equal(b"abc", b"abc"));
/// assert!(!tokens_equal(b"abc", b"abd"));
/// assert!(!tokens_equal(b"abc", b"abcd"));
/// assert!(!tokens_equal(b"", b"abc"));
/// ```
pub fn tokens_equal(given: &[u8], expected: &[u8]) -> bool {
    bool::from(digest(given).ct_eq(&digest(expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_table() {
        let secret = "0123456789abcdef-token";
        let mut last = secret.as_bytes().to_vec();
        *last.last_mut().unwrap() ^= 1;
        let mut first = secret.as_bytes().to_vec();
        first[0] ^= 1;
        let (longer, upper) = (format!("{secret}x"), secret.to_uppercase());
        let (spaced, nul) = (format!(" {secret}"), format!("{secret}\0"));
        let cases: &[(&[u8], bool)] = &[
            (secret.as_bytes(), true),
            (b"", false),
            (&first, false),
            (&last, false),
            (&secret.as_bytes()[..secret.len() - 1], false),
            (longer.as_bytes(), false),
            (upper.as_bytes(), false),
            (spaced.as_bytes(), false),
            (nul.as_bytes(), false),
        ];
        let token = Token::new(secret);
        for (given, want) in cases {
            assert_eq!(token.matches(given), *want, "{:?}", given);
            assert_eq!(tokens_equal(given, secret.as_bytes()), *want, "{:?}", given);
            assert_eq!(tokens_equal(secret.as_bytes(), given), *want, "{:?}", given);
        }
        assert!(tokens_equal(b"", b""));
        assert!(Token::new("").matches(b""));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = Token::new("hunter2-secret");
        let shown = format!("{t:?} {t:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let hex: String = t.digest.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex[..8]), "{shown}");
    }
}
