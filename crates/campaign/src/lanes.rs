//! Lanes: one campaign spread over several Redis hash tags, so it can outgrow one
//! Redis Cluster master.
//!
//! Every key of a one-lane campaign carries the tag `{id}`. With `lanes = N` the
//! campaign has N tags, `{id/0}` to `{id/N-1}`, which a cluster spreads over its
//! masters. What must be exact is placed so that one script call on one tag decides it:
//! - a **code** is claimed in its code lane (serial mod N): once per code and role;
//! - a **member** lives in its member lane (a fixed hash of the id): daily limits,
//!   points, growth, the draw, the stored answer, the settlement stream;
//! - **stock** is split into per-lane allotments that sum to the stock; a lane whose
//!   allotment runs dry borrows half of what another lane has left. Allotments only
//!   move by taking first, so their sum never exceeds the stock.

use std::borrow::Cow;
use std::hash::Hasher;

/// The most lanes a campaign may have (a cluster rarely has more masters).
pub const MAX_LANES: u16 = 256;

/// The hash tag of one lane: the campaign id itself for a one-lane campaign (the
/// layout from before lanes existed), else `id/lane`.
pub fn lane_tag(campaign: &str, lanes: u16, lane: u16) -> Cow<'_, str> {
    if lanes <= 1 {
        Cow::Borrowed(campaign)
    } else {
        Cow::Owned(format!("{campaign}/{lane}"))
    }
}

/// The campaign a lane tag belongs to (ids never hold a `/`).
pub fn campaign_of(tag: &str) -> &str {
    tag.split_once('/').map_or(tag, |(campaign, _)| campaign)
}

/// Every lane's tag, in lane order.
pub fn lane_tags(campaign: &str, lanes: u16) -> Vec<String> {
    (0..lanes.max(1))
        .map(|lane| lane_tag(campaign, lanes, lane).into_owned())
        .collect()
}

/// The lane a member's state lives in: SipHash-1-3 with fixed keys, stable across
/// processes, versions and machines (a member must always find its own lane).
pub fn member_lane(member: &str, lanes: u16) -> u16 {
    if lanes <= 1 {
        return 0;
    }
    let mut hasher = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    hasher.write(member.as_bytes());
    // Below `lanes`, so it fits.
    u16::try_from(hasher.finish() % u64::from(lanes)).unwrap_or(0)
}

/// The lane a code is claimed in, and its bit there: serials are consecutive in a
/// batch, so `serial mod N` spreads every batch evenly and `serial / N` keeps each
/// lane's bitmap dense.
pub fn code_lane(serial: u32, lanes: u16) -> (u16, u32) {
    let lanes = u32::from(lanes.max(1));
    // `serial % lanes` is below `lanes`, a u16.
    (u16::try_from(serial % lanes).unwrap_or(0), serial / lanes)
}

/// A lane's first allotment of `stock`: an even split, the remainder to the first
/// lanes, so the allotments sum to the stock exactly.
pub fn lane_share(stock: u64, lanes: u16, lane: u16) -> u64 {
    let lanes = u64::from(lanes.max(1));
    stock / lanes + u64::from(u64::from(lane) < stock % lanes)
}

/// What a lane with `left` unawarded items of its allotment lends to a dry lane: half,
/// rounded up, so a last item can move too and a lender keeps some for its own scans.
pub fn lend(left: i64) -> i64 {
    if left <= 0 { 0 } else { (left + 1) / 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lane_keeps_the_old_tag_and_more_lanes_number_theirs() {
        assert_eq!(lane_tag("spring", 1, 0), "spring");
        assert_eq!(lane_tag("spring", 0, 0), "spring");
        assert_eq!(lane_tag("spring", 4, 3), "spring/3");
        assert_eq!(lane_tags("spring", 1), ["spring"]);
        assert_eq!(lane_tags("spring", 3), ["spring/0", "spring/1", "spring/2"]);
    }

    #[test]
    fn shares_sum_to_the_stock_and_differ_by_at_most_one() {
        for lanes in 1..=17u16 {
            for stock in (0..200u64).chain([1_000_003, u64::MAX / 2]) {
                let shares: Vec<u64> = (0..lanes).map(|l| lane_share(stock, lanes, l)).collect();
                assert_eq!(shares.iter().sum::<u64>(), stock, "{stock} over {lanes}");
                let (min, max) = (shares.iter().min(), shares.iter().max());
                assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1));
            }
        }
    }

    #[test]
    fn codes_spread_evenly_and_each_lane_bit_belongs_to_one_serial() {
        for lanes in 1..=9u16 {
            let mut seen = std::collections::HashSet::new();
            let mut per_lane = vec![0u32; usize::from(lanes)];
            for serial in 0..1000u32 {
                let (lane, bit) = code_lane(serial, lanes);
                assert!(lane < lanes);
                assert!(
                    seen.insert((lane, bit)),
                    "two serials share lane {lane} bit {bit}"
                );
                per_lane[usize::from(lane)] += 1;
            }
            let (min, max) = (per_lane.iter().min(), per_lane.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1));
        }
    }

    #[test]
    fn members_hash_to_a_stable_lane_within_range() {
        // Fixed values: a change to the hash would move members away from their state.
        assert_eq!(member_lane("wang", 1), 0);
        let lanes: Vec<u16> = ["wang", "li", "zhang", "m0", "m1"]
            .iter()
            .map(|m| member_lane(m, 4))
            .collect();
        assert_eq!(lanes, [0, 0, 1, 2, 1]);
        let mut counts = [0u32; 8];
        for i in 0..8000 {
            let lane = member_lane(&format!("member-{i}"), 8);
            counts[usize::from(lane)] += 1;
        }
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_lender_gives_half_rounded_up_and_never_from_nothing() {
        assert_eq!(lend(-3), 0);
        assert_eq!(lend(0), 0);
        assert_eq!(lend(1), 1);
        assert_eq!(lend(2), 1);
        assert_eq!(lend(7), 4);
    }
}
