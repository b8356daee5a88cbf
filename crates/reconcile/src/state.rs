//! A campaign's countable state, and the differences between two of them.
//!
//! Both sides of a reconciliation are reduced to this one shape — Redis as read, and
//! Postgres as settled plus the stream entries still on their way — so the comparison
//! is pure and tested without servers.

use std::collections::BTreeMap;
use std::fmt;

use yima_campaign::Role;

/// How many differing serials of one bitmap are named before the rest are counted.
pub const SERIALS_NAMED: usize = 10;

/// A member's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Spendable points.
    pub points: i64,
    /// Level progress.
    pub growth: i64,
    /// Redeemed scans.
    pub scans: i64,
}

impl Balance {
    fn add(&mut self, other: Balance, sign: i64) {
        self.points += sign * other.points;
        self.growth += sign * other.growth;
        self.scans += sign * other.scans;
    }
}

/// Redeemed serials in Redis's bit order (`SETBIT`/`GET`: bit 0 is the high bit of
/// byte 0), so Redis's value is compared and written without conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitmap(Vec<u8>);

impl Bitmap {
    /// Wraps a value read with `GET`.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The value to write with `SET`/`SETRANGE`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Marks a serial redeemed.
    pub fn set(&mut self, serial: u32) {
        let byte = (serial / 8) as usize;
        if self.0.len() <= byte {
            self.0.resize(byte + 1, 0);
        }
        self.0[byte] |= 0x80 >> (serial % 8);
    }

    /// Whether a serial is redeemed.
    pub fn get(&self, serial: u32) -> bool {
        self.0
            .get((serial / 8) as usize)
            .is_some_and(|byte| byte & (0x80 >> (serial % 8)) != 0)
    }

    /// Redeemed serials.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|b| u64::from(b.count_ones())).sum()
    }

    /// Set bits, ascending.
    fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(index, byte)| {
            (0..8u32)
                .filter(move |bit| byte & (0x80 >> bit) != 0)
                .map(move |bit| u32::try_from(index * 8).unwrap_or(u32::MAX) + bit)
        })
    }

    /// The serials of one lane, in that lane's own bit order (bit `serial / lanes`), as
    /// the lane's bitmap holds them (see `lanes::code_lane`).
    pub fn lane(&self, lanes: u16, lane: u16) -> Bitmap {
        let mut bits = Bitmap::default();
        for serial in self.ones() {
            let (this, bit) = yima_campaign::lanes::code_lane(serial, lanes);
            if this == lane {
                bits.set(bit);
            }
        }
        bits
    }

    /// Adds a lane's bitmap (in the lane's bit order) to this one (in serials).
    pub fn add_lane(&mut self, bits: &Bitmap, lanes: u16, lane: u16) {
        let lanes = u32::from(lanes.max(1));
        for bit in bits.ones() {
            self.set(bit.saturating_mul(lanes).saturating_add(u32::from(lane)));
        }
    }

    /// Serials set in exactly one of the two, ascending, with the side that has them
    /// (`true`: `self`). Trailing zero bytes do not count as a difference.
    pub fn differences<'a>(&'a self, other: &'a Bitmap) -> impl Iterator<Item = (u32, bool)> + 'a {
        let length = self.0.len().max(other.0.len());
        (0..length).flat_map(move |index| {
            let mine = self.0.get(index).copied().unwrap_or(0);
            let theirs = other.0.get(index).copied().unwrap_or(0);
            let differing = mine ^ theirs;
            (0..8u32)
                .filter(move |bit| differing & (0x80 >> bit) != 0)
                .map(move |bit| {
                    let serial = u32::try_from(index * 8).unwrap_or(u32::MAX) + bit;
                    (serial, mine & (0x80 >> bit) != 0)
                })
        })
    }
}

/// Everything about a campaign that Redis counts and Postgres can account for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignState {
    /// Redeemed scans.
    pub scans: i64,
    /// Prize id -> awards (stock used); the campaign's wins are their sum.
    pub awarded: BTreeMap<String, i64>,
    /// Member id -> counters.
    pub members: BTreeMap<String, Balance>,
    /// (batch, role) -> redeemed serials.
    pub redeemed: BTreeMap<(u32, Role), Bitmap>,
}

impl CampaignState {
    /// Counts one redemption: its bit, the campaign counters and the prize's stock.
    /// Member balances are credited separately, because Postgres keeps them as their
    /// own (ledger-backed) rows.
    pub fn record(&mut self, batch: u32, serial: u32, role: Role, prize: Option<&str>) {
        self.mark(batch, serial, role);
        self.count(prize, 1);
    }

    /// Sets a redemption's bit (a serial, or a bit of a lane's bitmap).
    pub fn mark(&mut self, batch: u32, bit: u32, role: Role) {
        self.redeemed.entry((batch, role)).or_default().set(bit);
    }

    /// Counts `scans` redemptions of one prize (or none) in the campaign counters and
    /// the prize's stock.
    pub fn count(&mut self, prize: Option<&str>, scans: i64) {
        self.scans += scans;
        if let Some(prize) = prize {
            *self.awarded.entry(prize.to_string()).or_default() += scans;
        }
    }

    /// Adds `delta` to a member's counters.
    pub fn credit(&mut self, member: &str, delta: Balance) {
        self.members
            .entry(member.to_string())
            .or_default()
            .add(delta, 1);
    }

    /// Takes `delta` off a member's counters (a settled scan Redis had not made yet
    /// when it was read).
    pub fn debit(&mut self, member: &str, delta: Balance) {
        self.members
            .entry(member.to_string())
            .or_default()
            .add(delta, -1);
    }

    /// How `redis` differs from `self` (the Postgres side), in a stable order.
    /// Absent and zero are the same: a prize never awarded, a member with nothing.
    /// The campaign's rules that this state (Postgres's, with `daily` awards per
    /// (day, prize)) and Redis's state and lane allotments (prize -> summed `allot:`)
    /// break.
    pub fn broken_rules(
        &self,
        redis: &CampaignState,
        rules: &yima_campaign::Campaign,
        daily: &BTreeMap<(String, String), i64>,
        allotted: &BTreeMap<String, i64>,
    ) -> Vec<Difference> {
        let mut found = Vec::new();
        for prize in &rules.file.prizes {
            let stock = i64::try_from(prize.stock).unwrap_or(i64::MAX);
            for (side, state) in [("Postgres", self), ("Redis", redis)] {
                let awarded = state.awarded.get(&prize.id).copied().unwrap_or(0);
                if awarded > stock {
                    found.push(Difference::Oversold {
                        prize: prize.id.clone(),
                        awarded,
                        stock: prize.stock,
                        side,
                    });
                }
            }
            if let Some(&sum) = allotted.get(&prize.id)
                && sum > stock
            {
                found.push(Difference::OverAllotted {
                    prize: prize.id.clone(),
                    allotted: sum,
                    stock: prize.stock,
                });
            }
            if let Some(cap) = prize.daily_cap {
                for ((day, id), &awarded) in daily {
                    if id == &prize.id && awarded > i64::try_from(cap).unwrap_or(i64::MAX) {
                        found.push(Difference::OverDailyCap {
                            prize: prize.id.clone(),
                            day: day.clone(),
                            awarded,
                            cap,
                        });
                    }
                }
            }
        }
        found
    }

    /// Each way `redis` differs from this state.
    pub fn differences(&self, redis: &CampaignState) -> Vec<Difference> {
        let mut found = Vec::new();
        if self.scans != redis.scans {
            found.push(Difference::Counter {
                name: "scans",
                redis: redis.scans,
                postgres: self.scans,
            });
        }
        for prize in union(&self.awarded, &redis.awarded) {
            let postgres = self.awarded.get(prize).copied().unwrap_or(0);
            let redis = redis.awarded.get(prize).copied().unwrap_or(0);
            if postgres != redis {
                found.push(Difference::Stock {
                    prize: prize.clone(),
                    redis,
                    postgres,
                });
            }
        }
        let empty = Bitmap::default();
        for key in union(&self.redeemed, &redis.redeemed) {
            let (batch, role) = *key;
            let postgres = self.redeemed.get(key).unwrap_or(&empty);
            let redis = redis.redeemed.get(key).unwrap_or(&empty);
            let mut differing = redis.differences(postgres);
            for (serial, in_redis) in differing.by_ref().take(SERIALS_NAMED) {
                found.push(Difference::Redeemed {
                    batch,
                    role,
                    serial,
                    in_redis,
                });
            }
            let more = differing.count();
            if more > 0 {
                found.push(Difference::MoreRedeemed { batch, role, more });
            }
        }
        for member in union(&self.members, &redis.members) {
            let postgres = self.members.get(member).copied().unwrap_or_default();
            let redis = redis.members.get(member).copied().unwrap_or_default();
            for (field, postgres, redis) in [
                ("points", postgres.points, redis.points),
                ("growth", postgres.growth, redis.growth),
                ("scans", postgres.scans, redis.scans),
            ] {
                if postgres != redis {
                    found.push(Difference::Member {
                        member: member.clone(),
                        field,
                        redis,
                        postgres,
                    });
                }
            }
        }
        found
    }
}

fn union<'a, K: Ord, V>(a: &'a BTreeMap<K, V>, b: &'a BTreeMap<K, V>) -> Vec<&'a K> {
    let mut keys: Vec<&K> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// One way Redis disagrees with the book of record, phrased for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A campaign counter (`scans`; wins are stock used, compared per prize).
    Counter {
        /// Which counter.
        name: &'static str,
        /// Redis's value.
        redis: i64,
        /// Postgres's value.
        postgres: i64,
    },
    /// Stock used for a prize.
    Stock {
        /// Prize id.
        prize: String,
        /// Awards Redis counted.
        redis: i64,
        /// Awards Postgres holds.
        postgres: i64,
    },
    /// A code's redemption bit.
    Redeemed {
        /// Batch.
        batch: u32,
        /// Role.
        role: Role,
        /// Serial.
        serial: u32,
        /// Redeemed in Redis only (`false`: in Postgres only).
        in_redis: bool,
    },
    /// Further differing bits of one bitmap, beyond those named.
    MoreRedeemed {
        /// Batch.
        batch: u32,
        /// Role.
        role: Role,
        /// How many more.
        more: usize,
    },
    /// A rule broken whatever the two sides say, since both come from one script:
    /// more of a prize awarded than its stock (`redis` or `postgres` says so).
    Oversold {
        /// Prize id.
        prize: String,
        /// Awards counted.
        awarded: i64,
        /// The prize's stock.
        stock: u64,
        /// Which side counted them: `Redis` or `Postgres`.
        side: &'static str,
    },
    /// A laned campaign's allotments of a prize add up to more than its stock.
    OverAllotted {
        /// Prize id.
        prize: String,
        /// The lanes' allotments, summed.
        allotted: i64,
        /// The prize's stock.
        stock: u64,
    },
    /// More of a prize awarded on one campaign day than its daily cap.
    OverDailyCap {
        /// Prize id.
        prize: String,
        /// The campaign day.
        day: String,
        /// Awards that day (settled and in flight).
        awarded: i64,
        /// The cap.
        cap: u64,
    },
    /// A stream entry settlement could not read, set aside in `dead_letters`: a scan
    /// Redis answered may be missing from Postgres until an operator deals with it.
    DeadLetter {
        /// The stream it was on.
        stream: String,
        /// Its entry id.
        id: String,
        /// Why it could not be read.
        reason: String,
    },
    /// A claim whose prize is not an item award or mall order of its member: it would
    /// ship something nobody won.
    OrphanClaim {
        /// The claim's id.
        id: i64,
        /// What it claims.
        source: String,
    },
    /// A member's counter.
    Member {
        /// Member id.
        member: String,
        /// `points`, `growth` or `scans`.
        field: &'static str,
        /// Redis's value.
        redis: i64,
        /// Postgres's value.
        postgres: i64,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Counter {
                name,
                redis,
                postgres,
            } => write!(f, "campaign {name}: Redis {redis}, Postgres {postgres}"),
            Self::Stock {
                prize,
                redis,
                postgres,
            } => write!(
                f,
                "stock used of prize {prize}: Redis {redis}, Postgres {postgres}"
            ),
            Self::Redeemed {
                batch,
                role,
                serial,
                in_redis,
            } => write!(
                f,
                "code batch {batch} serial {serial} ({}): redeemed in {} only",
                role.as_str(),
                if *in_redis { "Redis" } else { "Postgres" }
            ),
            Self::MoreRedeemed { batch, role, more } => write!(
                f,
                "code batch {batch} ({}): {more} more serials differ",
                role.as_str()
            ),
            Self::Oversold {
                prize,
                awarded,
                stock,
                side,
            } => write!(
                f,
                "prize {prize} oversold: {side} counts {awarded} awarded, stock is {stock}"
            ),
            Self::OverAllotted {
                prize,
                allotted,
                stock,
            } => write!(
                f,
                "prize {prize} over-allotted: the lanes' allotments add up to {allotted}, stock is {stock}"
            ),
            Self::OverDailyCap {
                prize,
                day,
                awarded,
                cap,
            } => write!(
                f,
                "prize {prize} over its daily cap on {day}: {awarded} awarded, cap is {cap}"
            ),
            Self::DeadLetter { stream, id, reason } => write!(
                f,
                "stream {stream} entry {id} is a dead letter ({reason}): settle or discard it, then delete its row"
            ),
            Self::OrphanClaim { id, source } => write!(
                f,
                "claim {id} ({source}) is not a physical prize of its member: hold its shipment"
            ),
            Self::Member {
                member,
                field,
                redis,
                postgres,
            } => write!(
                f,
                "member {member} {field}: Redis {redis}, Postgres {postgres}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bitmap_split_into_lanes_and_added_back_is_the_same() {
        let mut serials = Bitmap::default();
        for serial in [0, 1, 2, 5, 7, 8, 63, 64, 1000, 4095] {
            serials.set(serial);
        }
        for lanes in 1..=7u16 {
            let mut merged = Bitmap::default();
            let mut total = 0;
            for lane in 0..lanes {
                let bits = serials.lane(lanes, lane);
                total += bits.count();
                for bit in bits.ones() {
                    assert_eq!(
                        yima_campaign::lanes::code_lane(
                            bit * u32::from(lanes) + u32::from(lane),
                            lanes
                        ),
                        (lane, bit)
                    );
                }
                merged.add_lane(&bits, lanes, lane);
            }
            assert_eq!(total, serials.count(), "{lanes} lanes");
            assert_eq!(merged.differences(&serials).count(), 0, "{lanes} lanes");
        }
    }

    fn balance(points: i64, growth: i64, scans: i64) -> Balance {
        Balance {
            points,
            growth,
            scans,
        }
    }

    #[test]
    fn bitmap_uses_redis_bit_order() {
        let mut bitmap = Bitmap::default();
        bitmap.set(0);
        bitmap.set(9);
        // SETBIT k 0 1; SETBIT k 9 1 -> "\x80\x40"
        assert_eq!(bitmap.as_bytes(), &[0x80, 0x40]);
        assert!(bitmap.get(0) && bitmap.get(9));
        assert!(!bitmap.get(1) && !bitmap.get(8) && !bitmap.get(1_000_000));
        assert_eq!(bitmap.count(), 2);
    }

    #[test]
    fn every_serial_round_trips_through_a_bitmap() {
        let serials = [0, 1, 7, 8, 15, 16, 255, 256, 65_535, 1_000_003];
        let mut bitmap = Bitmap::default();
        for serial in serials {
            bitmap.set(serial);
        }
        let set: Vec<u32> = (0..=1_000_010).filter(|s| bitmap.get(*s)).collect();
        assert_eq!(set, serials);
        let against_empty: Vec<(u32, bool)> = bitmap.differences(&Bitmap::default()).collect();
        assert_eq!(
            against_empty,
            serials.iter().map(|s| (*s, true)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn trailing_zero_bytes_are_not_a_difference() {
        let mut short = Bitmap::default();
        short.set(3);
        let long = Bitmap::from_bytes(vec![0x10, 0, 0, 0]);
        assert_eq!(short.differences(&long).count(), 0);
        assert_eq!(long.differences(&short).count(), 0);
    }

    #[test]
    fn differences_name_the_side_holding_the_bit() {
        let mut redis = Bitmap::default();
        let mut postgres = Bitmap::default();
        redis.set(5);
        postgres.set(5);
        redis.set(12);
        postgres.set(40);
        assert_eq!(
            redis.differences(&postgres).collect::<Vec<_>>(),
            vec![(12, true), (40, false)]
        );
    }

    fn settled() -> CampaignState {
        let mut state = CampaignState::default();
        state.record(1, 0, Role::Consumer, Some("cash"));
        state.record(1, 1, Role::Consumer, None);
        state.record(1, 0, Role::Dealer, None);
        state.credit("alice", balance(110, 2, 2));
        state.credit("bob", balance(5, 1, 1));
        state
    }

    #[test]
    fn equal_states_have_no_differences() {
        assert_eq!(settled().differences(&settled()), vec![]);
    }

    #[test]
    fn record_counts_scans_stock_and_bits() {
        let state = settled();
        assert_eq!(state.scans, 3);
        assert_eq!(state.awarded.get("cash"), Some(&1));
        assert!(state.redeemed[&(1, Role::Consumer)].get(1));
        assert!(!state.redeemed[&(1, Role::Dealer)].get(1));
    }

    #[test]
    fn zero_and_absent_are_the_same() {
        let mut redis = settled();
        redis.awarded.insert("never".into(), 0);
        redis.members.insert("carol".into(), Balance::default());
        redis
            .redeemed
            .insert((9, Role::Dealer), Bitmap::from_bytes(vec![0, 0]));
        assert_eq!(settled().differences(&redis), vec![]);
    }

    #[test]
    fn debit_undoes_credit() {
        let mut state = settled();
        state.credit("alice", balance(10, 1, 1));
        state.debit("alice", balance(10, 1, 1));
        assert_eq!(state, settled());
    }

    #[test]
    fn each_kind_of_divergence_is_named() {
        let postgres = settled();
        let mut redis = settled();
        redis.scans += 1;
        redis.awarded.insert("cash".into(), 2);
        redis
            .redeemed
            .entry((1, Role::Consumer))
            .or_default()
            .set(7);
        redis.credit("alice", balance(10, 0, 0));
        redis.members.remove("bob");
        let found: Vec<String> = postgres
            .differences(&redis)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            vec![
                "campaign scans: Redis 4, Postgres 3",
                "stock used of prize cash: Redis 2, Postgres 1",
                "code batch 1 serial 7 (consumer): redeemed in Redis only",
                "member alice points: Redis 120, Postgres 110",
                "member bob points: Redis 0, Postgres 5",
                "member bob growth: Redis 0, Postgres 1",
                "member bob scans: Redis 0, Postgres 1",
            ]
        );
    }

    #[test]
    fn a_bitmap_with_many_differences_names_ten_and_counts_the_rest() {
        let postgres = settled();
        let mut redis = settled();
        let bits = redis.redeemed.entry((2, Role::Consumer)).or_default();
        for serial in 100..125 {
            bits.set(serial);
        }
        let found = postgres.differences(&redis);
        assert_eq!(found.len(), SERIALS_NAMED + 1);
        assert_eq!(
            found.last(),
            Some(&Difference::MoreRedeemed {
                batch: 2,
                role: Role::Consumer,
                more: 25 - SERIALS_NAMED
            })
        );
        assert_eq!(
            found.first().map(ToString::to_string).as_deref(),
            Some("code batch 2 serial 100 (consumer): redeemed in Redis only")
        );
    }
}
