//! The webhook's wire rules, with no IO: how a request is signed, how a receiver
//! verifies it, what an answer means, and how long to wait before trying again.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Yima-Signature";
/// The header carrying the idempotency key (the scan id): the receiver pays a key once.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header carrying the attempt number, from 1.
pub const ATTEMPT_HEADER: &str = "X-Yima-Attempt";

/// `t=<unix seconds>,v2=<hex HMAC-SHA256 of "<t>.<idempotency key>.<body>">`: the
/// timestamp is signed so a captured request cannot be replayed later with a fresh
/// time, and the idempotency key (the payout id, also in the body) so a captured body
/// cannot be sent again under another key and paid twice.
pub fn sign(secret: &[u8], unix_seconds: u64, idempotency_key: &str, body: &[u8]) -> String {
    format!(
        "t={unix_seconds},v2={}",
        hex::encode(mac(secret, unix_seconds, idempotency_key, body))
    )
}

fn mac(secret: &[u8], unix_seconds: u64, idempotency_key: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(idempotency_key.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Why a receiver refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadSignature {
    /// The header is not `t=...,v1=...`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further from the receiver's clock than allowed.
    #[error("signature timestamp outside the allowed window")]
    Stale,
    /// The MAC does not match.
    #[error("signature does not match")]
    Mismatch,
}

/// What a receiver runs on each request: checks the MAC over the timestamp, the
/// `Idempotency-Key` header and the body in constant time, and the timestamp against
/// `now` within `tolerance` seconds.
pub fn verify(
    secret: &[u8],
    header: &str,
    idempotency_key: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), BadSignature> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v2", value)) => signature = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(BadSignature::Malformed);
    };
    if timestamp.abs_diff(now) > tolerance {
        return Err(BadSignature::Stale);
    }
    let expected = mac(secret, timestamp, idempotency_key, body);
    if subtle::ConstantTimeEq::ct_eq(expected.as_slice(), signature.as_slice()).into() {
        Ok(())
    } else {
        Err(BadSignature::Mismatch)
    }
}

/// What an answer means for the payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx): recorded as delivered.
    Delivered,
    /// Worth another try: 5xx, 408, 425, 429, or no answer at all.
    Retry,
    /// Refused for good (any other 4xx, or 3xx): recorded as failed, for finance.
    Refused,
}

/// Classifies an HTTP status; `None` is a transport failure (refused, reset, timeout).
pub fn outcome(status: Option<u16>) -> Outcome {
    match status {
        Some(200..=299) => Outcome::Delivered,
        None | Some(408 | 425 | 429) | Some(500..) => Outcome::Retry,
        Some(_) => Outcome::Refused,
    }
}

/// The wait before attempt `attempt + 1`: `base * 2^(attempt-1)` capped at `max`, of
/// which the upper half is spread by a hash of the payout's key, so payouts that
/// failed together (the provider was down) do not all come back at the same moment.
pub fn backoff(attempt: u32, base: Duration, max: Duration, key: &str) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let full = base.saturating_mul(1u32 << exponent.min(31)).min(max);
    let mut hasher = std::hash::DefaultHasher::new();
    (key, attempt).hash(&mut hasher);
    let spread = (hasher.finish() % 1000) as u32;
    full / 2 + (full / 2) * spread / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"webhook secret";

    const KEY: &str = "scan-abc";

    #[test]
    fn a_signed_request_verifies() {
        let body = br#"{"payout_id":"scan-abc","amount_fen":888}"#;
        let header = sign(SECRET, 1_780_000_000, KEY, body);
        assert!(header.starts_with("t=1780000000,v2="));
        assert_eq!(header.len(), "t=1780000000,v2=".len() + 64);
        assert_eq!(
            verify(SECRET, &header, KEY, body, 1_780_000_010, 300),
            Ok(())
        );
    }

    #[test]
    fn tampering_with_body_key_time_or_secret_is_refused() {
        let body = br#"{"amount_fen":888}"#;
        let header = sign(SECRET, 1_780_000_000, KEY, body);
        let now = 1_780_000_000;
        assert_eq!(
            verify(SECRET, &header, KEY, br#"{"amount_fen":8888}"#, now, 300),
            Err(BadSignature::Mismatch)
        );
        // Finding 15.7: the same body under another idempotency key would be paid
        // again by a provider that keys on the header.
        assert_eq!(
            verify(SECRET, &header, "scan-other", body, now, 300),
            Err(BadSignature::Mismatch)
        );
        assert_eq!(
            verify(b"other secret", &header, KEY, body, now, 300),
            Err(BadSignature::Mismatch)
        );
        let moved = header.replace("t=1780000000", "t=1780000001");
        assert_eq!(
            verify(SECRET, &moved, KEY, body, now, 300),
            Err(BadSignature::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, KEY, body, now + 301, 300),
            Err(BadSignature::Stale)
        );
        for garbage in ["", "t=1", "v2=00", "t=x,v2=00", "t=1780000000,v2=zz"] {
            assert_eq!(
                verify(SECRET, garbage, KEY, body, now, 300),
                Err(BadSignature::Malformed),
                "{garbage}"
            );
        }
    }

    #[test]
    fn answers_are_classified() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(outcome(Some(status)), Outcome::Delivered, "{status}");
        }
        for status in [
            None,
            Some(408),
            Some(425),
            Some(429),
            Some(500),
            Some(502),
            Some(503),
        ] {
            assert_eq!(outcome(status), Outcome::Retry, "{status:?}");
        }
        for status in [301, 400, 401, 403, 404, 409, 422] {
            assert_eq!(outcome(Some(status)), Outcome::Refused, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_is_capped_and_spread() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(600);
        for attempt in 1..=40 {
            let full = base.saturating_mul(1 << (attempt - 1).min(31)).min(max);
            let wait = backoff(attempt, base, max, "scan");
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        assert!(backoff(12, base, max, "scan") >= Duration::from_secs(300));
        let spread: std::collections::HashSet<Duration> = (0..50)
            .map(|i| backoff(5, base, max, &format!("scan-{i}")))
            .collect();
        assert!(spread.len() > 40, "keys spread the retries");
        assert_eq!(backoff(3, Duration::ZERO, max, "k"), Duration::ZERO);
    }
}
