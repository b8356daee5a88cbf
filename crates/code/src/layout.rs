//! The bit layout and its base62 text form. See the crate docs for the table.

use std::fmt;

/// Characters in every code.
pub const CODE_LEN: usize = 21;
/// The layout version written into every new code.
pub const FORMAT_VERSION: u8 = 1;
/// Bits of HMAC-SHA256 kept as the tag; the guess probability is 2^-TAG_BITS.
pub const TAG_BITS: u32 = 50;

const VERSION_BITS: u32 = 3;
const TOTAL_BITS: u32 = VERSION_BITS + 8 + 32 + 32 + TAG_BITS;
const TAG_MASK: u128 = (1 << TAG_BITS) - 1;

// The layout must fit the text: 62^21 > 2^125.
const _: () = assert!(TOTAL_BITS == 125);

/// The signed fields of a code, before the tag is appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub key_id: u8,
    pub batch: u32,
    pub permuted_serial: u32,
}

impl Header {
    fn bits(self) -> u128 {
        (u128::from(FORMAT_VERSION) << 72)
            | (u128::from(self.key_id) << 64)
            | (u128::from(self.batch) << 32)
            | u128::from(self.permuted_serial)
    }

    /// The 75 header bits as the 10 big-endian bytes the tag is computed over.
    pub(crate) fn to_bytes(self) -> [u8; 10] {
        let wide = self.bits().to_be_bytes();
        let mut out = [0; 10];
        out.copy_from_slice(&wide[6..]);
        out
    }

    /// The full code value: header, then the low [`TAG_BITS`] of `tag`.
    pub(crate) fn pack(self, tag: u64) -> u128 {
        (self.bits() << TAG_BITS) | (u128::from(tag) & TAG_MASK)
    }

    /// Splits a decoded value into header and tag; `None` for a value outside the
    /// layout or of another version.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "each field is cut out of the packed bits at its own width"
    )]
    pub(crate) fn unpack(value: u128) -> Option<(Self, u64)> {
        if value >> TOTAL_BITS != 0 {
            return None;
        }
        let header = value >> TAG_BITS;
        if (header >> 72) as u8 != FORMAT_VERSION {
            return None;
        }
        let fields = Self {
            key_id: (header >> 64) as u8,
            batch: (header >> 32) as u32,
            permuted_serial: header as u32,
        };
        Some((fields, (value & TAG_MASK) as u64))
    }
}

/// One code's text, kept inline so generating millions allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code([u8; CODE_LEN]);

impl Code {
    pub(crate) fn from_value(value: u128) -> Self {
        let mut digits = [0u8; 22];
        // 22 bytes hold any u128, so this cannot fail; a value below 62^20 (never a
        // valid code) would be left-padded with zeros below.
        let len = base62::encode_bytes(value, &mut digits).unwrap_or(0);
        let mut text = [b'0'; CODE_LEN];
        let len = len.min(CODE_LEN);
        text[CODE_LEN - len..].copy_from_slice(&digits[..len]);
        Self(text)
    }

    /// Parses the text form; `None` unless it is exactly [`CODE_LEN`] base62 characters
    /// whose value fits the layout.
    pub(crate) fn parse_value(text: &[u8]) -> Option<u128> {
        if text.len() != CODE_LEN {
            return None;
        }
        base62::decode(text).ok()
    }

    /// The ASCII bytes, for writers that do not need a `&str`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // base62 output is ASCII, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn smallest_and_largest_headers_encode_to_21_digits() {
        let low = Header {
            key_id: 0,
            batch: 0,
            permuted_serial: 0,
        }
        .pack(0);
        let high = Header {
            key_id: u8::MAX,
            batch: u32::MAX,
            permuted_serial: u32::MAX,
        }
        .pack(u64::MAX);
        for value in [low, high] {
            let code = Code::from_value(value);
            assert_eq!(code.as_str().len(), CODE_LEN);
            assert!(!code.as_str().starts_with('0'), "{code:?} has padding");
            assert_eq!(Code::parse_value(code.as_bytes()), Some(value));
        }
    }

    #[test]
    fn values_outside_the_layout_are_refused() {
        assert_eq!(Header::unpack(1 << TOTAL_BITS), None);
        assert_eq!(Header::unpack(u128::MAX), None);
        // version 0 and version 2
        assert_eq!(Header::unpack(0), None);
        assert_eq!(Header::unpack(2u128 << (TOTAL_BITS - VERSION_BITS)), None);
    }

    #[test]
    fn wrong_lengths_and_alphabets_are_refused() {
        let code = Code::from_value(
            Header {
                key_id: 1,
                batch: 7,
                permuted_serial: 9,
            }
            .pack(3),
        );
        let text = code.as_str();
        assert!(Code::parse_value(&text.as_bytes()[1..]).is_none());
        assert!(Code::parse_value(format!("{text}0").as_bytes()).is_none());
        assert!(Code::parse_value(b"").is_none());
        let mut bad = text.as_bytes().to_vec();
        bad[5] = b'-';
        assert!(Code::parse_value(&bad).is_none());
        // 21 multibyte characters are more than 21 bytes; 7 three-byte ones are 21 bytes.
        assert!(Code::parse_value("码码码码码码码".as_bytes()).is_none());
        // the largest 21-digit number exceeds the layout
        let max = Code::parse_value(b"zzzzzzzzzzzzzzzzzzzzz").expect("fits u128");
        assert_eq!(Header::unpack(max), None);
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trips(key_id: u8, batch: u32, permuted_serial: u32, tag: u64) {
            let header = Header { key_id, batch, permuted_serial };
            let value = header.pack(tag);
            let code = Code::from_value(value);
            prop_assert_eq!(code.as_str().len(), CODE_LEN);
            let parsed = Code::parse_value(code.as_bytes());
            prop_assert_eq!(parsed, Some(value));
            prop_assert_eq!(Header::unpack(value), Some((header, tag & u64::try_from(TAG_MASK).expect("the tag fits a u64"))));
        }
    }
}
