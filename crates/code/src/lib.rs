//! Signed per-item codes: what a factory prints on every label and what the scan
//! gateway checks before it touches any shared state.
//!
//! A code must be unforgeable (nobody can mint a winning label), cheap to reject
//! (forged codes are turned away in-process at millions per second per core),
//! short enough for a QR code inside a bag of putty, and must not leak the production
//! volume: neighbouring labels look unrelated.
//!
//! # Format (version 1)
//!
//! A code is a 125-bit number written as exactly [`CODE_LEN`] = 21 base62 characters
//! (`0-9A-Za-z`, the `base62` crate's standard alphabet; 62^21 > 2^125). From the most
//! significant bit:
//!
//! | bits | field | meaning |
//! |-----:|-------|---------|
//! | 3    | version | [`FORMAT_VERSION`]; a new layout gets a new number |
//! | 8    | key id | which key of the [`KeyRing`] signed it (0-255), so keys can rotate |
//! | 32   | batch | the batch id registered in Postgres |
//! | 32   | permuted serial | the item's serial in its batch through a keyed permutation |
//! | 50   | tag | the first 50 bits of HMAC-SHA256 over the 75 bits above |
//!
//! The version bits (value 1) make every code at least 2^122, so every version-1
//! code has exactly 21 digits with no padding, and its first character is one of
//! `7`-`F`.
//!
//! # Guess probability
//!
//! Without the key, a guessed or altered code passes only if its 50-bit tag matches:
//! probability 2^-50 ≈ 8.9 × 10^-16 per attempt, twelve orders of magnitude below
//! the EU FMD bar of 10^-4. An attacker making a million guesses a second would wait
//! on average 18 years for a single valid code, which would then still have to name a
//! live batch and an unredeemed serial.
//!
//! # Serial permutation
//!
//! The serial is encrypted with a six-round Feistel network over the 32-bit serial
//! space, whose round function is SipHash-2-4 keyed from the code key and tweaked with
//! the batch id. Each batch therefore gets its own bijection: consecutive labels carry
//! unrelated numbers, and the highest code seen says nothing about how many were printed.
//! [`KeyRing::verify`] inverts it to recover the serial (the offset of the item's
//! redemption bit).
//!
//! # Keys
//!
//! Keys never appear in `Debug` output or errors. The secret itself is never used
//! directly: the tag key and the permutation key are derived from it with HMAC and
//! distinct labels, so one cannot be used to learn the other.

mod key;
mod layout;
mod permutation;

pub use key::{BatchCodes, CodeKey, EntryProblem, KeyRing, KeyRingError, key_entries};
pub use layout::{CODE_LEN, Code, FORMAT_VERSION, TAG_BITS};

/// What a verified code names: everything the gateway needs to find its batch and
/// its redemption bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeId {
    /// The key that signed it (recorded so a retired key's batches can be found).
    pub key_id: u8,
    /// The batch id, as registered in Postgres.
    pub batch: u32,
    /// The item's position in its batch, `0..count`.
    pub serial: u32,
}

/// The single outward error of [`KeyRing::verify`].
///
/// Malformed, mis-sized, tampered, forged and unknown-key codes all produce this same
/// value, so a caller cannot accidentally tell a forger which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid code")]
pub struct InvalidCode;
