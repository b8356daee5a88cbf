//! A keyed, batch-tweaked permutation of serial numbers.
//!
//! Printing serial `n` in the clear would let anyone with two labels learn the
//! production volume and predict their neighbours. A balanced Feistel network is a
//! bijection by construction whatever its round function, so it can encrypt the
//! 32-bit serial into a 32-bit field without collisions and decrypt it back. The
//! round function is SipHash-2-4 (a PRF) over (batch, round, half); with 16-bit
//! halves the classic four Luby-Rackoff rounds have thin margins, so six are used.

use siphasher::sip::SipHasher24;

const ROUNDS: u8 = 6;

#[derive(Clone)]
pub(crate) struct SerialPermutation {
    prf: SipHasher24,
    half_bits: u32,
}

impl SerialPermutation {
    /// The permutation of the full 32-bit serial space used by codes.
    pub(crate) fn new(key: &[u8; 16]) -> Self {
        Self::with_half_bits(key, 16)
    }

    /// A permutation of `0..2^(2*half_bits)`; smaller domains exist so tests can
    /// check bijectivity exhaustively on the very same code.
    pub(crate) fn with_half_bits(key: &[u8; 16], half_bits: u32) -> Self {
        debug_assert!((1..=16).contains(&half_bits));
        Self {
            prf: SipHasher24::new_with_key(key),
            half_bits,
        }
    }

    fn mask(&self) -> u32 {
        (1u32 << self.half_bits) - 1
    }

    fn round(&self, batch: u32, round: u8, half: u32) -> u32 {
        let input = (u64::from(batch) << 32) | (u64::from(round) << 24) | u64::from(half);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the round function keeps the hash's low 32 bits"
        )]
        let low = self.prf.hash(&input.to_le_bytes()) as u32;
        low & self.mask()
    }

    pub(crate) fn forward(&self, batch: u32, serial: u32) -> u32 {
        let (mut left, mut right) = (serial >> self.half_bits & self.mask(), serial & self.mask());
        for round in 0..ROUNDS {
            let next = left ^ self.round(batch, round, right);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }

    pub(crate) fn inverse(&self, batch: u32, permuted: u32) -> u32 {
        let (mut left, mut right) = (
            permuted >> self.half_bits & self.mask(),
            permuted & self.mask(),
        );
        for round in (0..ROUNDS).rev() {
            let previous = right ^ self.round(batch, round, left);
            right = left;
            left = previous;
        }
        (left << self.half_bits) | right
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 16] = *b"permutation-test";

    #[test]
    fn is_a_bijection_on_every_value_of_small_domains() {
        for half_bits in [1, 4, 8] {
            let permutation = SerialPermutation::with_half_bits(&KEY, half_bits);
            let size = 1usize << (2 * half_bits);
            let mut seen = vec![false; size];
            for serial in 0..u32::try_from(size).expect("a small domain") {
                let permuted = permutation.forward(42, serial);
                assert!((permuted as usize) < size, "{permuted} escapes the domain");
                assert!(!seen[permuted as usize], "{permuted} hit twice");
                seen[permuted as usize] = true;
                assert_eq!(permutation.inverse(42, permuted), serial);
            }
        }
    }

    #[test]
    fn batches_get_different_permutations() {
        let permutation = SerialPermutation::new(&KEY);
        let a: Vec<u32> = (0..64).map(|s| permutation.forward(1, s)).collect();
        let b: Vec<u32> = (0..64).map(|s| permutation.forward(2, s)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn neighbours_are_not_neighbours() {
        let permutation = SerialPermutation::new(&KEY);
        let close = (0..10_000u32)
            .filter(|&s| {
                permutation
                    .forward(9, s)
                    .abs_diff(permutation.forward(9, s + 1))
                    < 65_536
            })
            .count();
        // Unrelated 32-bit values are this close with probability ~2^-15 each.
        assert!(close < 10, "{close} consecutive serials stayed adjacent");
    }

    proptest! {
        #[test]
        fn inverse_undoes_forward(batch: u32, serial: u32) {
            let permutation = SerialPermutation::new(&KEY);
            prop_assert_eq!(permutation.inverse(batch, permutation.forward(batch, serial)), serial);
        }
    }
}
