//! Bearer tokens a gateway accepts, kept as SHA-256 digests.
//!
//! An empty token would match a request that sends none, and comparing the token
//! itself leaks its length through timing; so a token is refused when empty and only
//! fixed-length digests are ever compared, in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A configured bearer token (the admin token, the service key), never empty.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

/// The token was empty or only whitespace: a configuration error, never "no check".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a bearer token must not be empty")]
pub struct EmptyToken;

impl BearerToken {
    /// Keeps the digest of `token`; refuses an empty one.
    pub fn new(token: &str) -> Result<Self, EmptyToken> {
        if token.trim().is_empty() {
            return Err(EmptyToken);
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Whether `given` (a bearer token, `Bearer ` already taken off) is this token.
    pub fn admits(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        bool::from(given.ct_eq(&self.digest))
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_blank_token_is_refused() {
        assert_eq!(BearerToken::new("").err(), Some(EmptyToken));
        assert_eq!(BearerToken::new(" \t").err(), Some(EmptyToken));
    }

    #[test]
    fn only_the_exact_token_is_admitted() {
        let token = BearerToken::new("s3cret-admin").expect("token");
        assert!(token.admits("s3cret-admin"));
        for given in [
            "",
            "s3cret",
            "s3cret-admin ",
            " s3cret-admin",
            "s3cret-admin-and-more",
            "S3CRET-ADMIN",
            "Bearer s3cret-admin",
        ] {
            assert!(!token.admits(given), "{given:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let token = BearerToken::new("s3cret-admin").expect("token");
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
