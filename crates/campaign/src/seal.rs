//! Draw secrets as Postgres stores them: sealed under a key only gateways and tools
//! hold.
//!
//! Whoever knows a campaign's draw secret knows which printed codes win before they
//! are scanned (the draw is `HMAC(secret, scan id)`), so a reader of the database
//! must not learn it. Each secret is sealed with ChaCha20-Poly1305 under a *draw key*
//! from the environment (`YIMA_DRAW_KEYS`, `id:hex` like the code keys), with the
//! campaign id as associated data:
//!
//! `sealed = 0x01 ‖ key id ‖ nonce (12) ‖ ciphertext (32) ‖ tag (16)`
//!
//! Without the key the bytes say nothing, and a writer of the database cannot plant a
//! secret of its own choosing, nor copy a campaign's published secret into another
//! campaign: anything but a seal made under a held key for this very campaign fails to
//! open. The newest key (highest id) seals; every key in the ring opens, so keys rotate
//! by adding one, resealing (`yima campaign reseal`) and then dropping the old one.

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use yima_code::{EntryProblem, key_entries};

use crate::DrawSecret;

/// The format byte of a sealed secret.
const FORMAT: u8 = 1;
/// Bytes of a sealed secret: format, key id, nonce, ciphertext and tag.
pub const SEALED_LEN: usize = 2 + 12 + 32 + 16;
/// Bytes of a draw key.
const KEY_LEN: usize = 32;

/// Why a draw key ring could not be read. Never shows a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawKeyError {
    /// No entries at all.
    #[error("no draw keys: give at least one id:hex entry")]
    Empty,
    /// An entry without `id:hex`.
    #[error("draw key entry {position} is not id:hex")]
    Malformed {
        /// 1-based position among the entries.
        position: usize,
    },
    /// An id that is not 0-255.
    #[error("draw key entry {position}: the id is not a number from 0 to 255")]
    BadId {
        /// 1-based position among the entries.
        position: usize,
    },
    /// A key that is not 64 hex digits.
    #[error("draw key {id}: the key is not 64 hex digits (32 bytes)")]
    BadKey {
        /// The key's id.
        id: u8,
    },
    /// The same id twice.
    #[error("draw key {id} is given twice")]
    Duplicate {
        /// The key's id.
        id: u8,
    },
}

/// Why a stored secret could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// 32 bytes: a secret stored before sealing existed.
    #[error("the draw secret is stored unsealed: run `yima migrate` with the draw keys set")]
    Plain,
    /// Neither a plain nor a sealed secret.
    #[error("the stored draw secret is not a sealed secret ({0} bytes)")]
    Malformed(usize),
    /// Sealed under a key this ring does not hold.
    #[error("the draw secret is sealed under draw key {0}, which is not configured")]
    UnknownKey(u8),
    /// The key is held but the seal does not open: altered, or another campaign's.
    #[error("the stored draw secret does not open: it was altered or belongs to another campaign")]
    Tampered,
}

/// Every draw key a deployment holds.
#[derive(Clone)]
pub struct DrawKeyRing {
    keys: BTreeMap<u8, ChaCha20Poly1305>,
}

impl fmt::Debug for DrawKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrawKeyRing")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DrawKeyRing {
    /// Parses `id:hex` entries separated by commas, whitespace or newlines (the form of
    /// `YIMA_DRAW_KEYS` and of a key file); in a file, `#` starts a comment line.
    pub fn parse(spec: &str) -> Result<Self, DrawKeyError> {
        let mut keys = BTreeMap::new();
        for (position, entry) in key_entries(spec) {
            let (id, key) = entry.map_err(|problem| match problem {
                EntryProblem::NotIdHex => DrawKeyError::Malformed { position },
                EntryProblem::BadId => DrawKeyError::BadId { position },
            })?;
            let mut bytes = [0u8; KEY_LEN];
            hex::decode_to_slice(key, &mut bytes).map_err(|_| DrawKeyError::BadKey { id })?;
            let cipher = ChaCha20Poly1305::new(&Key::from(bytes));
            if keys.insert(id, cipher).is_some() {
                return Err(DrawKeyError::Duplicate { id });
            }
        }
        if keys.is_empty() {
            return Err(DrawKeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// The id of the key new seals use: the highest.
    pub fn sealing_id(&self) -> u8 {
        self.keys.keys().next_back().copied().unwrap_or_default()
    }

    /// Seals a campaign's secret under the newest key. `nonce` must be fresh random
    /// bytes (generating them is IO, done by the caller).
    pub fn seal(&self, campaign: &str, secret: &DrawSecret, nonce: [u8; 12]) -> Vec<u8> {
        let id = self.sealing_id();
        let mut sealed = Vec::with_capacity(SEALED_LEN);
        sealed.extend([FORMAT, id]);
        sealed.extend(nonce);
        if let Some(cipher) = self.keys.get(&id) {
            let aad = associated_data(campaign, id);
            // Encryption into a Vec fails only past 2^38 bytes.
            if let Ok(ciphertext) = cipher.encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            ) {
                sealed.extend(ciphertext);
            }
        }
        sealed
    }

    /// Opens a campaign's stored secret.
    pub fn open(&self, campaign: &str, sealed: &[u8]) -> Result<DrawSecret, UnsealError> {
        let id = sealed_key(sealed)?;
        let cipher = self.keys.get(&id).ok_or(UnsealError::UnknownKey(id))?;
        let nonce: [u8; 12] = sealed[2..14]
            .try_into()
            .map_err(|_| UnsealError::Tampered)?;
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed[14..],
                    aad: &associated_data(campaign, id),
                },
            )
            .map_err(|_| UnsealError::Tampered)?;
        let bytes: [u8; 32] = plain.try_into().map_err(|_| UnsealError::Tampered)?;
        Ok(DrawSecret::from_bytes(bytes))
    }

    /// Whether a stored secret is sealed under the newest key (else a reseal would
    /// rewrite it).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed_key(sealed) == Ok(self.sealing_id())
    }
}

/// The id of the key a stored secret is sealed under.
fn sealed_key(sealed: &[u8]) -> Result<u8, UnsealError> {
    match sealed {
        plain if plain.len() == 32 => Err(UnsealError::Plain),
        [FORMAT, id, ..] if sealed.len() == SEALED_LEN => Ok(*id),
        other => Err(UnsealError::Malformed(other.len())),
    }
}

/// What a seal is bound to besides its key: this format, the campaign and the key id.
fn associated_data(campaign: &str, id: u8) -> Vec<u8> {
    let mut aad = b"yima/draw-secret/v1\0".to_vec();
    aad.push(id);
    aad.extend(campaign.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_1: &str = "1:0101010101010101010101010101010101010101010101010101010101010101";
    const KEY_2: &str = "2:0202020202020202020202020202020202020202020202020202020202020202";

    fn secret() -> DrawSecret {
        DrawSecret::from_bytes([7; 32])
    }

    #[test]
    fn a_seal_opens_only_for_its_campaign_and_only_unaltered() {
        let ring = DrawKeyRing::parse(KEY_1).expect("ring");
        let sealed = ring.seal("spring", &secret(), [9; 12]);
        assert_eq!(sealed.len(), SEALED_LEN);
        assert!(
            !sealed.windows(32).any(|w| w == secret().as_bytes()),
            "the secret is not in the clear"
        );
        assert_eq!(ring.open("spring", &sealed), Ok(secret()));
        assert_eq!(ring.open("summer", &sealed), Err(UnsealError::Tampered));
        for at in 0..SEALED_LEN {
            let mut altered = sealed.clone();
            altered[at] ^= 1;
            assert!(ring.open("spring", &altered).is_err(), "byte {at} altered");
        }
        assert_eq!(
            ring.open("spring", secret().as_bytes()),
            Err(UnsealError::Plain),
            "a planted plain secret is refused"
        );
        assert_eq!(
            ring.open("spring", &sealed[..40]),
            Err(UnsealError::Malformed(40))
        );
    }

    #[test]
    fn keys_rotate_by_adding_a_higher_id() {
        let old = DrawKeyRing::parse(KEY_1).expect("ring");
        let both = DrawKeyRing::parse(&format!("{KEY_2},{KEY_1}")).expect("ring");
        let new = DrawKeyRing::parse(KEY_2).expect("ring");
        let sealed_old = old.seal("spring", &secret(), [1; 12]);
        assert_eq!(both.sealing_id(), 2);
        assert!(!both.is_current(&sealed_old));
        assert_eq!(both.open("spring", &sealed_old), Ok(secret()));
        let resealed = both.seal(
            "spring",
            &both.open("spring", &sealed_old).expect("open"),
            [2; 12],
        );
        assert!(both.is_current(&resealed));
        assert_eq!(new.open("spring", &resealed), Ok(secret()));
        assert_eq!(
            new.open("spring", &sealed_old),
            Err(UnsealError::UnknownKey(1))
        );
    }

    #[test]
    fn bad_rings_name_the_entry_and_never_the_key() {
        let cases = [
            ("", DrawKeyError::Empty),
            ("# only a comment\n", DrawKeyError::Empty),
            ("0101", DrawKeyError::Malformed { position: 1 }),
            ("x:01", DrawKeyError::BadId { position: 1 }),
            ("3:abcd", DrawKeyError::BadKey { id: 3 }),
            (
                &*format!("{KEY_1} {KEY_1}"),
                DrawKeyError::Duplicate { id: 1 },
            ),
        ];
        for (spec, expected) in cases {
            let error = DrawKeyRing::parse(spec).expect_err(spec);
            assert_eq!(error, expected, "{spec}");
            assert!(!error.to_string().contains("0101"), "{error}");
        }
        let debug = format!("{:?}", DrawKeyRing::parse(KEY_1).expect("ring"));
        assert!(!debug.contains("0101"), "{debug}");
    }
}
